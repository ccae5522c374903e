"""Abuse figures, with the product run as its own process (run.py, sandbox Telegram, SQLite by default):

- 1,000 WebSockets attempted on one session: how many were accepted (goal: no more than the session's cap);
- another visitor's GET /api/chat/state latency while the first visitor's messages flow to those sockets,
  beside the same run's baseline with nothing else going on (goal: p95 under 50 ms);
- the process's resident memory growth after 40 unauthenticated 10 MB uploads at once (goal: under 20 MB).

    python bench/abuse_bench.py [--sockets 1000] [--uploads 40] [--database-url sqlite:///…]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def wait_healthy(http: aiohttp.ClientSession, base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"run.py exited with {process.returncode}")
        try:
            async with http.get(f"{base}/healthz") as response:
                if response.status == 200 and not (await response.json()).get("starting"):
                    return  # the Telegram side up too, so its start-up does not share the measured seconds
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the product did not become healthy in 60 s")


async def start_session(http: aiohttp.ClientSession, base: str) -> tuple[str, str]:
    async with http.post(f"{base}/api/chat/start", json={}) as response:
        data = await response.json()
    return data["session_id"], data["token"]


async def state_latencies(http: aiohttp.ClientSession, base: str, sid: str, token: str, n: int) -> list[float]:
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        async with http.get(f"{base}/api/chat/state", params={"session_id": sid},
                            headers={"Authorization": f"Bearer {token}"}) as response:
            await response.read()
            assert response.status == 200, response.status
        timings.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return timings


async def sockets_phase(http: aiohttp.ClientSession, base: str, attempts: int) -> None:
    other_sid, other_token = await start_session(http, base)
    baseline = await state_latencies(http, base, other_sid, other_token, 100)

    sid, token = await start_session(http, base)
    ws_base = base.replace("http", "ws", 1)
    gate = asyncio.Semaphore(100)
    opened: list[aiohttp.ClientWebSocketResponse] = []
    refused: dict[str, int] = {}

    async def attempt() -> None:
        async with gate:
            async with http.post(f"{base}/api/chat/ws-ticket", json={"session_id": sid},
                                 headers={"Authorization": f"Bearer {token}"}) as response:
                ticket = (await response.json())["ticket"]
            url = f"{ws_base}/api/chat/ws?session_id={sid}&ticket={ticket}&after=0"
            try:
                opened.append(await http.ws_connect(url, heartbeat=None))
            except aiohttp.WSServerHandshakeError as exc:
                refused[str(exc.status)] = refused.get(str(exc.status), 0) + 1
            except aiohttp.ClientError as exc:
                refused[type(exc).__name__] = refused.get(type(exc).__name__, 0) + 1

    await asyncio.gather(*(attempt() for _ in range(attempts)))

    async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:
            pass

    readers = [asyncio.create_task(drain(ws)) for ws in opened]

    async def chatter() -> None:
        for n in range(20):  # within the session's messages-per-minute limit
            async with http.post(f"{base}/api/chat/send-message", headers={"Authorization": f"Bearer {token}"},
                                 json={"session_id": sid, "text": f"сообщение {n}"}) as response:
                await response.read()
            await asyncio.sleep(0.05)

    talking = asyncio.create_task(chatter())
    loaded = await state_latencies(http, base, other_sid, other_token, 100)
    await talking
    for ws in opened:
        await ws.close()
    for reader in readers:
        reader.cancel()

    print(f"WebSockets attempted on one session: {attempts}; accepted: {len(opened)} "
          f"(goal: at most the per-session cap); refused: {refused}")
    print(f"Another visitor's /state while messages flow: p50 {p(loaded, 0.5):.1f} ms, p95 {p(loaded, 0.95):.1f} ms "
          f"(same-run baseline p50 {p(baseline, 0.5):.1f} ms, p95 {p(baseline, 0.95):.1f} ms; goal: p95 < 50 ms)")


async def uploads_phase(http: aiohttp.ClientSession, base: str, pid: int, uploads: int) -> None:
    sid, _ = await start_session(http, base)
    body = b"%PDF-1.4\n" + os.urandom(10 * 1024 * 1024)
    before = rss_mb(pid)
    statuses: dict[str, int] = {}

    async def upload() -> None:
        form = aiohttp.FormData()
        form.add_field("file", body, filename="big.pdf", content_type="application/pdf")
        try:
            async with http.post(f"{base}/api/chat/upload", params={"session_id": sid}, data=form,
                                 headers={"Authorization": "Bearer not-the-token"}) as response:
                key = str(response.status)
        except aiohttp.ClientError as exc:  # the server may answer and close before the body is all sent
            key = type(exc).__name__
        statuses[key] = statuses.get(key, 0) + 1

    await asyncio.gather(*(upload() for _ in range(uploads)))
    await asyncio.sleep(1.0)
    after = rss_mb(pid)
    print(f"{uploads} unauthenticated 10 MB uploads: answers {statuses}; process memory {before:.1f} → {after:.1f} MB, "
          f"growth {after - before:.1f} MB (goal: < 20 MB)")


async def measure(base: str, pid: int, process: subprocess.Popen[bytes], sockets: int, uploads: int) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await wait_healthy(http, base, process)
        await sockets_phase(http, base, sockets)
        await uploads_phase(http, base, pid, uploads)
        async with http.get(f"{base}/healthz") as response:
            print(f"/healthz afterwards: {response.status}")


def main(sockets: int, uploads: int, database_url: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ilpo-abuse-bench-"))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url or f"sqlite:///{workdir}/bench.db", "HTTP_HOST": "127.0.0.1",
           "HTTP_PORT": str(port), "TELEGRAM_BOT_TOKEN": "", "LOG_LEVEL": "WARNING",
           "UPLOADS_PATH": str(workdir / "uploads")}
    with (workdir / "product.log").open("wb") as product_log:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--migrate"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=product_log)
        try:
            asyncio.run(measure(f"http://127.0.0.1:{port}", process.pid, process, sockets, uploads))
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"(product log: {workdir / 'product.log'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    main(args.sockets, args.uploads, args.database_url)
