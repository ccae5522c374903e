"""What every part of bench/scale.py shares: the bench's constants, small helpers, fresh databases, the servers
under test (each its own process) and the visitor's side of the widget API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent.parent
# The entry the helper processes run (`--serve-bare`, `--socket-client`): one script, as `make bench` knows it.
SCALE_SCRIPT = ROOT / "bench" / "scale.py"

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

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 60, *, whole: bool = True) -> float:
        """Seconds until /healthz answers 200 (from now); `whole`: and lists no part as still "starting" (the
        product serves the widget before its Telegram side is up)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited:\n{self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with http.get(f"{self.base}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200 and not (whole and (await response.json()).get("starting")):
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
                  label: str = "product", command: list[str] | None = None,
                  extra_env: dict[str, str] | None = None) -> Server:
    """run.py (or `command`, a wrapper that runs it) against `url`; updates by webhook from `telegram_base`."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "MANAGER_", "ADMIN_", "AI_"))}
    env.update({"DATABASE_URL": url, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port), "LOG_LEVEL": "WARNING",
                "MANAGER_IDS": str(MANAGER_ID), "ILPO_CONFIG": str(bench_config(workdir)),
                "UPLOADS_PATH": str(workdir / "uploads")})
    if telegram_base:  # the fake Bot API as its own server, updates by webhook
        env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": telegram_base,
                    "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}", "TELEGRAM_WEBHOOK_SECRET": SECRET})
    env.update(extra_env or {})
    command = command or [sys.executable, "run.py", "--migrate"]
    log_path = workdir / f"{label}-{port}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server("product", url, port, process, log_path)


def start_bare(url: str, workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / f"bare-{port}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(SCALE_SCRIPT), "--serve-bare", url, "--port", str(port)],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    return Server("bare", url, port, process, log_path)



# --- visitors --------------------------------------------------------------------------------------------------


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {VISITOR_TOKEN}"}


async def open_socket(http: aiohttp.ClientSession, kind: str, base: str, session_id: str, **options: Any
                      ) -> aiohttp.ClientWebSocketResponse:
    """A visitor's socket as the widget opens it: for the product the token goes in the first frame and the
    socket counts as open once the product answers "ready" (authenticated, listening); the bare server takes
    the token in the URL and is open at the upgrade."""
    if kind != "product":
        return await http.ws_connect(f"{base}/api/chat/ws?session_id={session_id}&token={VISITOR_TOKEN}&after=0",
                                     **options)
    ws = await http.ws_connect(f"{base}/api/chat/ws", **options)
    try:
        await ws.send_json({"type": "auth", "session_id": session_id, "token": VISITOR_TOKEN, "after": 0})
        message = await ws.receive(timeout=60)
        if message.type != aiohttp.WSMsgType.TEXT or json.loads(message.data).get("type") != "ready":
            raise RuntimeError(f"socket not ready: {message.type} {message.data!r}")
    except BaseException:
        await ws.close()
        raise
    return ws


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



@contextlib.asynccontextmanager
async def running(server: Server) -> AsyncIterator[Server]:
    try:
        async with aiohttp.ClientSession() as http:
            await server.wait_ready(http)
        yield server
    finally:
        server.stop()

