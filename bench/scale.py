"""One process against its own stack: the product (run.py, as `make run` starts it) beside a bare aiohttp server
on the same database driver doing the least work, measured in the same run and printed side by side with goals.

    python bench/scale.py [--database sqlite|postgresql|both] [--visitors 100] [--seconds 8] [--rounds 30]
                          [--sockets 10000] [--socket-clients 2] [--cold-starts 3] [--parts throughput,relay,...]
                          [--profile DIR] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Parts (each bounded in time; all of them take about 3–5 minutes at the default sizes):
- throughput: N visitors in AI mode, each sending its next message as soon as the answer to the previous one
  reached its WebSocket (the widget's path); the bare server answers in the HTTP response (read the session,
  insert the visitor's row, insert the answer's row);
- relay: one message at a time, visitor → the Bot API call, and a Telegram update → the widget's socket
  (the fake Bot API runs in this process as its own server; the product is in webhook mode);
- sockets: N idle widget WebSockets held by several client processes: server memory per socket, open rate,
  and a message reaching one socket while all are held; the bare server is a plain aiohttp WebSocket server
  taking the token in the URL, the product's open rate counts POST /api/chat/ws-ticket before every socket
  (a single-use ticket is part of what opening a widget socket costs);
- cold: run.py started on a migrated database until /healthz answers 200, beside the bare server's start.

The machine may be shared: only the same-run ratios mean much. `--profile DIR` runs the product under cProfile
and prints its top costs (the .prof files stay in DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench")

TOKEN = "424242:scale-bench-token"
SECRET = "scale-bench-Secret_1"
MANAGER_ID = 910_001
VISITOR_TOKEN = "bench-visitor-token"  # one token for every bench session: the hash is what the server checks
QUESTION = "Сколько вы берёте комиссию?"
BARE_ANSWER = "Комиссия сервиса — 0 % первые 14 дней."


# --- small helpers -------------------------------------------------------------------------------------------


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    """Milliseconds at quantile q of seconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass
class Databases:
    """Fresh migrated databases for one engine, dropped at the end."""

    engine: str
    admin_url: str
    workdir: Path
    urls: list[str] = field(default_factory=list)

    def create(self) -> str:
        if self.engine == "sqlite":
            from core.migrations import apply_migrations

            url = f"sqlite:///{self.workdir}/bench-{uuid.uuid4().hex[:8]}.db"
            apply_migrations(url)
        else:
            from bench.pgdb import create_database

            url = create_database(self.admin_url)
        self.urls.append(url)
        return url

    def drop_all(self) -> None:
        if self.engine != "postgresql":
            return
        from bench.pgdb import drop_databases

        drop_databases(self.admin_url, self.urls)


def insert_sessions(url: str, count: int) -> list[str]:
    """Visitor sessions written straight into the database (setup, not measured): their session_ids."""
    from core.db import make_sync_database
    from models import VisitorSession
    from support.visitors import hash_token

    db = make_sync_database(url)
    ids = [uuid.uuid4().hex for _ in range(count)]
    token_hash = hash_token(VISITOR_TOKEN)
    with db.bind_ctx([VisitorSession]), db.atomic():
        for start in range(0, count, 500):
            VisitorSession.insert_many([{"session_id": sid, "token_hash": token_hash}
                                        for sid in ids[start:start + 500]]).execute()
    db.close()
    return ids


# --- the servers under test, each its own process --------------------------------------------------------------


@dataclass
class Server:
    kind: str  # "product" or "bare"
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 60) -> float:
        """Seconds until /healthz answers 200 (from now)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited:\n{self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with http.get(f"{self.base}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            await asyncio.sleep(0.01)
        raise RuntimeError(f"{self.kind} not ready in {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def bench_config(workdir: Path) -> Path:
    """config.toml with the per-session and per-address caps lifted: the bench is one address and many visitors."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    for key, value in (("sessions_per_minute", "1000000"), ("messages_per_minute", "1000000"),
                       ("max_active_chats", "100"), ("connections_per_address", "1000000")):
        text = re.sub(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
    path = workdir / "bench-config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start_product(url: str, workdir: Path, *, telegram_base: str | None = None, port: int | None = None,
                  label: str = "product") -> Server:
    port = port or free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "MANAGER_", "ADMIN_", "AI_"))}
    env.update({"DATABASE_URL": url, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port), "LOG_LEVEL": "WARNING",
                "MANAGER_IDS": str(MANAGER_ID), "ILPO_CONFIG": str(bench_config(workdir)),
                "UPLOADS_PATH": str(workdir / "uploads")})
    if telegram_base:  # the fake Bot API as its own server, updates by webhook
        env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": telegram_base,
                    "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}", "TELEGRAM_WEBHOOK_SECRET": SECRET})
    command = [sys.executable, "run.py", "--migrate"]
    log_path = workdir / f"{label}-{port}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server("product", url, port, process, log_path)


def start_bare(url: str, workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / f"bare-{port}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen([sys.executable, __file__, "--serve-bare", url, "--port", str(port)], cwd=ROOT,
                                   stdout=out, stderr=subprocess.STDOUT)
    return Server("bare", url, port, process, log_path)


# --- the bare server: the least work the same stack can do for the same request ------------------------------


class BareStore:
    """Read the session, insert the visitor's row and the answer's row: nothing else."""

    async def open(self, url: str) -> None:
        from core.db import parse_database_url

        parsed = parse_database_url(url)
        self.engine = parsed.engine
        if parsed.engine == "sqlite":
            import aiosqlite

            self.sqlite = await aiosqlite.connect(parsed.database, isolation_level=None)
            await self.sqlite.execute("PRAGMA journal_mode=WAL")
            await self.sqlite.execute("PRAGMA synchronous=NORMAL")
            self.write_lock = asyncio.Lock()  # one connection, one writer
        else:
            import aiopg

            self.pool = await aiopg.create_pool(dbname=parsed.database, user=parsed.user, password=parsed.password,
                                                host=parsed.host, port=parsed.port, minsize=1, maxsize=10)

    async def close(self) -> None:
        if self.engine == "sqlite":
            await self.sqlite.close()
        else:
            self.pool.close()
            await self.pool.wait_closed()

    async def message(self, session_id: str, token_hash: str, text: str) -> tuple[int, int] | None:
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        if self.engine == "sqlite":
            db = self.sqlite
            async with db.execute("SELECT id, token_hash FROM visitor_sessions WHERE session_id = ?",
                                  (session_id,)) as cursor:
                row = await cursor.fetchone()
            if row is None or row[1] != token_hash:
                return None
            async with self.write_lock:
                await db.execute("BEGIN IMMEDIATE")
                cursor = await db.execute("INSERT INTO chat_messages (session_id, sender, text, created_at) "
                                          "VALUES (?, 'user', ?, ?)", (row[0], text, now))
                user_id = cursor.lastrowid
                cursor = await db.execute("INSERT INTO chat_messages (session_id, sender, text, created_at) "
                                          "VALUES (?, 'ai', ?, ?)", (row[0], BARE_ANSWER, now))
                answer_id = cursor.lastrowid
                await db.execute("COMMIT")
            return int(user_id or 0), int(answer_id or 0)
        async with self.pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute("SELECT id, token_hash FROM visitor_sessions WHERE session_id = %s", (session_id,))
            row = await cursor.fetchone()
            if row is None or row[1] != token_hash:
                return None
            await cursor.execute("BEGIN")
            await cursor.execute("INSERT INTO chat_messages (session_id, sender, text, created_at) "
                                 "VALUES (%s, 'user', %s, now()) RETURNING id", (row[0], text))
            user_id = (await cursor.fetchone())[0]
            await cursor.execute("INSERT INTO chat_messages (session_id, sender, text, created_at) "
                                 "VALUES (%s, 'ai', %s, now()) RETURNING id", (row[0], BARE_ANSWER))
            answer_id = (await cursor.fetchone())[0]
            await cursor.execute("COMMIT")
            return int(user_id), int(answer_id)


BARE_STORE = web.AppKey("bare_store", BareStore)
BARE_SOCKETS = web.AppKey("bare_sockets", dict)


def bare_app(url: str) -> web.Application:
    def hash_token(token: str) -> str:  # the product's own check, without importing the product
        return hashlib.sha256(token.encode()).hexdigest()

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        store = BareStore()
        await store.open(url)
        app[BARE_STORE] = store
        yield
        for ws in list(app[BARE_SOCKETS].values()):
            await ws.close()
        await store.close()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def send_message(request: web.Request) -> web.Response:
        body = await request.json()
        token = request.headers.get("Authorization", "")[7:]
        ids = await request.app[BARE_STORE].message(body["session_id"], hash_token(token), body["text"])
        if ids is None:
            return web.json_response({"error": "invalid_token"}, status=403)
        ws = request.app[BARE_SOCKETS].get(body["session_id"])
        if ws is not None:
            await ws.send_json({"id": ids[0], "type": "user_message", "text": body["text"]})
        return web.json_response({"id": ids[0], "type": "user_message", "text": body["text"],
                                  "answer": {"id": ids[1], "type": "ai_message", "text": BARE_ANSWER}})

    async def websocket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session_id = request.query.get("session_id", "")
        request.app[BARE_SOCKETS][session_id] = ws
        try:
            async for _ in ws:
                pass
        finally:
            request.app[BARE_SOCKETS].pop(session_id, None)
        return ws

    app = web.Application()
    app[BARE_SOCKETS] = {}
    app.cleanup_ctx.append(store_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/chat/send-message", send_message)
    app.router.add_get("/api/chat/ws", websocket)
    return app


def serve_bare(url: str, port: int) -> None:
    raise_fd_limit()
    web.run_app(bare_app(url), host="127.0.0.1", port=port, access_log=None, print=None)


# --- visitors --------------------------------------------------------------------------------------------------


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {VISITOR_TOKEN}"}


async def ws_url(http: aiohttp.ClientSession, kind: str, base: str, session_id: str) -> str:
    """The product opens a socket only with a single-use ticket from POST /api/chat/ws-ticket (the widget's own
    path, so its round trip is part of every product socket's cost); the bare server takes the token as it is."""
    if kind != "product":
        return f"{base}/api/chat/ws?session_id={session_id}&token={VISITOR_TOKEN}&after=0"
    async with http.post(f"{base}/api/chat/ws-ticket", headers=auth(), json={"session_id": session_id}) as response:
        if response.status != 200:
            raise RuntimeError(f"ws-ticket {response.status}: {await response.text()}")
        ticket = (await response.json())["ticket"]
    return f"{base}/api/chat/ws?session_id={session_id}&ticket={ticket}&after=0"


async def send(http: aiohttp.ClientSession, base: str, session_id: str, text: str) -> dict[str, Any]:
    async with http.post(f"{base}/api/chat/send-message", headers=auth(),
                         json={"session_id": session_id, "text": text}) as response:
        if response.status != 200:
            raise RuntimeError(f"send-message {response.status}: {await response.text()}")
        return await response.json()  # type: ignore[no-any-return]


async def frame_until(ws: aiohttp.ClientWebSocketResponse, kind: str, text: str | None = None,
                      timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"socket ended: {message.type}")
            frame = json.loads(message.data)
            if frame.get("type") == kind and (text is None or frame.get("text") == text):
                return frame


async def start_spy(server: Server, seconds: float, profile: Path | None, label: str) -> Any:
    """py-spy sampling the server process during the measured window only (start-up is not the question)."""
    if profile is None:
        return None
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    return await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(server.process.pid), "--duration", str(max(1, int(seconds))), "--rate", "250",
        "--format", "raw", "--output", str(profile / f"{label}.txt"), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


async def throughput(server: Server, sessions: list[str], seconds: float, profile: Path | None = None,
                     label: str = "") -> dict[str, float]:
    """Each visitor sends its next message once the answer to the last one came back; for the product the answer
    is the AI's message on the visitor's socket, for the bare server it is in the HTTP response."""
    cycles: list[float] = []
    sends: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets = ([await http.ws_connect(await ws_url(http, server.kind, server.base, sid)) for sid in sessions]
                   if server.kind == "product" else [None] * len(sessions))
        for sid, ws in zip(sessions, sockets, strict=True):  # warm-up: one message each, not counted
            await send(http, server.base, sid, QUESTION)
            if ws is not None:
                await frame_until(ws, "ai_message")
        deadline = time.perf_counter() + seconds

        async def visitor(sid: str, ws: aiohttp.ClientWebSocketResponse | None) -> None:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                started = time.perf_counter()
                await send(http, server.base, sid, f"{QUESTION} {n}")
                sends.append(time.perf_counter() - started)
                if ws is not None:
                    await frame_until(ws, "ai_message")
                cycles.append(time.perf_counter() - started)

        spy = await start_spy(server, seconds, profile, label)
        started = time.perf_counter()
        await asyncio.gather(*(visitor(sid, ws) for sid, ws in zip(sessions, sockets, strict=True)))
        elapsed = time.perf_counter() - started
        if spy is not None:
            await spy.wait()
        for ws in sockets:
            if ws is not None:
                await ws.close()
    return {"rate": len(cycles) / elapsed, "p50": pct(cycles, 0.5), "p99": pct(cycles, 0.99),
            "send50": pct(sends, 0.5), "send99": pct(sends, 0.99)}


async def relay(server: Server, telegram: Any, rounds: int, gap: float) -> dict[str, list[float]]:
    from sandbox.bot_api import FakeUser

    manager = FakeUser(id=MANAGER_ID, first_name="Анна", username="anna_bench")
    for text, expect in (("/start", "рабочее место"), ("/online", "Смена начата")):
        await telegram.send_message(manager, text)
        await telegram.wait_for_message(manager.id, lambda m, e=expect: e in (m.text or ""), timeout=20)
    sid = insert_sessions(server.url, 1)[0]
    to_widget: list[float] = []
    to_telegram: list[float] = []
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base}/api/chat/transfer-to-manager", headers=auth(),
                             json={"session_id": sid, "name": "Bench", "phone": "+7 900 000-00-00"}) as response:
            if response.status != 200:
                raise RuntimeError(f"transfer {response.status}: {await response.text()}")
        offer = await telegram.wait_for_message(manager.id, lambda m: "✅ Принять чат" in m.button_texts, timeout=20)
        await telegram.press_button(manager, offer.message_id, "✅ Принять чат")
        await telegram.wait_for_message(manager.id, lambda m: "Режим ответа" in (m.text or ""), timeout=20)
        async with http.ws_connect(await ws_url(http, server.kind, server.base, sid)) as ws:
            for n in range(rounds):
                question = f"Вопрос {n}"
                started = time.perf_counter()
                await send(http, server.base, sid, question)
                await telegram.wait_for_message(manager.id, lambda m, q=question: q in (m.text or ""), timeout=20)
                to_telegram.append(time.perf_counter() - started)
                text = f"Ответ {n}"
                started = time.perf_counter()
                await telegram.send_message(manager, text)
                await frame_until(ws, "manager_message", text)
                to_widget.append(time.perf_counter() - started)
                # One at a time means at the pace Telegram allows one chat (about a message a second, which
                # the outbox keeps to): a round puts two messages into the manager's chat.
                await asyncio.sleep(gap)
    return {"to_telegram": to_telegram, "to_widget": to_widget}


# --- idle sockets, held by client processes --------------------------------------------------------------------


def socket_client(kind: str, base: str, ids_path: str, concurrency: int) -> None:
    """Opens one WebSocket per session id in the file (for the product: a ticket, then the socket), prints the
    seconds it took, holds them until stdin closes."""
    raise_fd_limit()

    ids = Path(ids_path).read_text().split()

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            gate = asyncio.Semaphore(concurrency)
            failures = 0

            async def open_one(sid: str) -> aiohttp.ClientWebSocketResponse | None:
                nonlocal failures
                async with gate:
                    try:
                        return await http.ws_connect(await ws_url(http, kind, base, sid), heartbeat=None, autoping=True)
                    except (aiohttp.ClientError, OSError, RuntimeError):
                        failures += 1
                        return None

            started = time.perf_counter()
            sockets = await asyncio.gather(*(open_one(sid) for sid in ids))
            print(json.dumps({"seconds": time.perf_counter() - started, "failures": failures}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            for ws in sockets:
                if ws is not None:
                    await ws.close()

    asyncio.run(run())


async def idle_sockets(server: Server, count: int, clients: int, probes: int, workdir: Path,
                       profile: Path | None = None, label: str = "") -> dict[str, float]:
    sessions = insert_sessions(server.url, count + 1)
    probe_sid, held = sessions[0], sessions[1:]
    async with aiohttp.ClientSession() as http:  # warm the server up so the baseline memory is a working one
        for n in range(5):
            await send(http, server.base, probe_sid, f"разогрев {n}")
    await asyncio.sleep(0.5)
    before = rss_kb(server.process.pid)
    spy = await start_spy(server, 4, profile, f"{server.kind}-{label}-opening-sockets")
    chunk = -(-count // clients)
    processes = []
    for n in range(clients):
        part = workdir / f"sockets-{server.kind}-{n}.txt"
        part.write_text("\n".join(held[n * chunk:(n + 1) * chunk]))
        processes.append(await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--socket-client", server.kind, server.base, str(part), cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE))
    try:
        reports = []
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=180)
            reports.append(json.loads(line))
        if spy is not None:
            await spy.wait()
        open_seconds = max(report["seconds"] for report in reports)
        failures = sum(report["failures"] for report in reports)
        await asyncio.sleep(1)
        after = rss_kb(server.process.pid)
        reach: list[float] = []
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(await ws_url(http, server.kind, server.base, probe_sid)) as ws:
            if server.kind == "product":
                await frame_until(ws, "user_message", "разогрев 4")  # the replay of what is stored
            for n in range(probes):
                text = f"проба {n}"
                started = time.perf_counter()
                await send(http, server.base, probe_sid, text)
                await frame_until(ws, "user_message", text)
                reach.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)
    finally:
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
    return {"per_socket_kb": (after - before) / max(1, count - failures), "rate": (count - failures) / open_seconds,
            "failures": failures, "reach50": pct(reach, 0.5), "reach99": pct(reach, 0.99),
            "rss_mb": after / 1024}


# --- the parts ---------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(server: Server) -> AsyncIterator[Server]:
    try:
        async with aiohttp.ClientSession() as http:
            await server.wait_ready(http)
        yield server
    finally:
        server.stop()


async def part_throughput(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    url = dbs.create()
    sessions = insert_sessions(url, args.visitors)
    async with running(start_product(url, workdir)) as srv:
        product = await throughput(srv, sessions, args.seconds, args.profile, f"product-{dbs.engine}")
    bare_sessions = insert_sessions(url, args.visitors)
    async with running(start_bare(url, workdir)) as srv:
        bare = await throughput(srv, bare_sessions, args.seconds, args.profile, f"bare-{dbs.engine}")
    ratio = product["rate"] / bare["rate"]
    p99_ratio = product["p99"] / bare["p99"]
    print(f"[{dbs.engine}] AI mode, {args.visitors} visitors, {args.seconds:g} s:")
    print(f"    bare aiohttp:  {bare['rate']:8.1f} msg/s   p50 {bare['p50']:7.1f} ms   p99 {bare['p99']:7.1f} ms")
    print(f"    product:       {product['rate']:8.1f} msg/s   p50 {product['p50']:7.1f} ms   "
          f"p99 {product['p99']:7.1f} ms   (send answered p50 {product['send50']:.1f} /"
          f" p99 {product['send99']:.1f} ms)")
    print(f"    ratio {ratio:.2f} of bare msg/s (goal ≥ 0.5: {verdict(ratio >= 0.5)}); "
          f"p99 {p99_ratio:.1f}× bare (goal ≤ 3×: {verdict(p99_ratio <= 3)})")


async def part_relay(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    from sandbox.bot_api import FakeBotAPI

    url = dbs.create()
    telegram = FakeBotAPI(TOKEN, webhook_retry_delay=0.2)
    await telegram.start()
    try:
        async with running(start_product(url, workdir, telegram_base=str(telegram.base_url),
                                         label=f"relay-{dbs.engine}")) as srv:
            result = await relay(srv, telegram, args.rounds, args.relay_gap)
    finally:
        await telegram.stop()
    # The same-run floor: one bare HTTP round trip to the bare server (the stack's own cost per hop).
    bare_sessions = insert_sessions(url, 1)
    floor: list[float] = []
    async with running(start_bare(url, workdir)) as srv, aiohttp.ClientSession() as http:
        for n in range(args.rounds):
            started = time.perf_counter()
            await send(http, srv.base, bare_sessions[0], f"Вопрос {n}")
            floor.append(time.perf_counter() - started)
    tt, tw = result["to_telegram"], result["to_widget"]
    print(f"[{dbs.engine}] relay one at a time, {args.rounds} rounds {args.relay_gap:g} s apart "
          f"(bare send-message round trip p50 {pct(floor, 0.5):.1f} ms):")
    print(f"    visitor → Bot API call:     p50 {pct(tt, 0.5):6.1f} ms   p99 {pct(tt, 0.99):6.1f} ms"
          f"   (goal p50 ≤ 10 ms: {verdict(pct(tt, 0.5) <= 10)})")
    print(f"    Telegram update → widget:   p50 {pct(tw, 0.5):6.1f} ms   p99 {pct(tw, 0.99):6.1f} ms"
          f"   (goal p50 ≤ 10 ms: {verdict(pct(tw, 0.5) <= 10)})")


async def part_sockets(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    url = dbs.create()
    async with running(start_product(url, workdir, label=f"sockets-{dbs.engine}")) as srv:
        product = await idle_sockets(srv, args.sockets, args.socket_clients, args.rounds, workdir, args.profile,
                                     dbs.engine)
    async with running(start_bare(url, workdir)) as srv:
        bare = await idle_sockets(srv, args.sockets, args.socket_clients, args.rounds, workdir, args.profile,
                                  dbs.engine)
    memory_ratio = product["per_socket_kb"] / bare["per_socket_kb"]
    print(f"[{dbs.engine}] {args.sockets} idle WebSockets from {args.socket_clients} client processes "
          f"(the product's open rate includes a POST /api/chat/ws-ticket per socket; the bare server's does not):")
    for name, r in (("bare aiohttp", bare), ("product", product)):
        print(f"    {name + ':':14} {r['per_socket_kb']:6.1f} KB/socket (RSS {r['rss_mb']:.0f} MB)   "
              f"opened {r['rate']:7.0f}/s ({r['failures']} failed)   "
              f"a message reaches one: p50 {r['reach50']:5.1f} ms  p99 {r['reach99']:5.1f} ms")
    print(f"    memory {memory_ratio:.2f}× bare (goal ≤ 1.5×: {verdict(memory_ratio <= 1.5)}); "
          f"open rate goal ≥ 1,000/s: {verdict(product['rate'] >= 1000)}; "
          f"reach goal p50 ≤ 20 ms: {verdict(product['reach50'] <= 20)}")


async def part_cold(dbs: Databases, args: argparse.Namespace, workdir: Path) -> None:
    """run.py as `make run` starts it (sandbox Telegram, --migrate on an already migrated database)."""
    url = dbs.create()
    product_times: list[float] = []
    bare_times: list[float] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(args.cold_starts):
            for times, start in ((product_times, lambda: start_product(url, workdir, label="cold")),
                                 (bare_times, lambda: start_bare(url, workdir))):
                started = time.perf_counter()
                server = start()
                try:
                    await server.wait_ready(http)
                    times.append(time.perf_counter() - started)
                finally:
                    server.stop()
    product, bare = statistics.median(product_times), statistics.median(bare_times)
    print(f"[{dbs.engine}] cold start to /healthz 200, median of {args.cold_starts}: "
          f"product {product:.2f} s, bare aiohttp {bare:.2f} s (goal ≤ 2 s: {verdict(product <= 2)})")


PARTS = {"throughput": part_throughput, "relay": part_relay, "sockets": part_sockets, "cold": part_cold}


# Frames every event-loop sample passes through: they say nothing about where the time goes.
LOOP_FRAMES = ("main (run.py)", "<module>", "Runner.run", "run (asyncio", "BaseEventLoop.", "Handle._run",
               "serve_bare", "run_app", "_run_app")


def print_profiles(directory: Path, top: int) -> None:
    """Each sampled server's top costs: own time by function, and time inside the project's functions."""
    for path in sorted(directory.glob("*.txt")):
        own: dict[str, int] = {}
        inside: dict[str, int] = {}
        total = 0
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            frames = [frame.replace(str(ROOT) + "/", "") for frame in frames]
            if not any(frame.startswith("BaseEventLoop.run_forever") for frame in frames):
                continue  # database driver threads wait on queues there; the event loop is what serves
            total += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for frame in set(frames):
                if not frame.startswith(LOOP_FRAMES) and "(<" not in frame:
                    inside[frame] = inside.get(frame, 0) + count
        if not total:
            continue
        print(f"--- {path.stem}: {total} samples of the event loop thread while measured (250/s)")
        print("    own time:")
        for frame, count in sorted(own.items(), key=lambda item: -item[1])[:top]:
            print(f"    {100 * count / total:5.1f} %  {frame}")
        print("    inside the project's functions (cumulative):")
        for frame, count in sorted(inside.items(), key=lambda item: -item[1])[:top]:
            print(f"    {100 * count / total:5.1f} %  {frame}")


async def main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    engines = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="ilpo-scale-"))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(f"bench/scale.py: parts {','.join(parts)} on {', '.join(engines)}; the product is run.py, "
          f"the baseline a bare aiohttp server on the same driver, both in this run")
    try:
        for engine in engines:
            dbs = Databases(engine, args.admin_url, workdir)
            try:
                for part in parts:
                    if part == "cold" and engine != engines[0]:
                        continue  # start-up does not depend on the engine much; once is enough
                    started = time.perf_counter()
                    await PARTS[part](dbs, args, workdir)
                    log.info("%s on %s took %.1f s", part, engine, time.perf_counter() - started)
            finally:
                dbs.drop_all()
    finally:
        if args.profile is not None:
            print_profiles(args.profile, args.profile_top)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-bare":
        serve_bare(sys.argv[2], int(sys.argv[4]))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--socket-client":
        socket_client(sys.argv[2], sys.argv[3], sys.argv[4], concurrency=100)
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--parts", default="throughput,relay,sockets,cold")
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--relay-gap", type=float, default=2.0,
                        help="seconds between relay rounds, so the per-chat pacing never holds one back")
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--socket-clients", type=int, default=2)
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)
    asyncio.run(main(parser.parse_args()))
