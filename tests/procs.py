"""Helpers for running several product processes (run.py) behind a round-robin proxy, with the fake Bot API as
its own server: the multi-process tests and bench/scale_out.py both use them. Nothing here imports bench/."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.bot_api import FakeBotAPI, FakeUser
from tests.conftest import ADMIN_ID, MANAGER_ID, SECOND_MANAGER_ID, eventually

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "424242:scale-test-token"
SECRET = "scale-Secret_1"
WEBHOOK_PATH = "/telegram/webhook"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])



class RoundRobinProxy:
    """Any L7 balancer without sticky sessions: each request and each socket goes to the next live backend.
    Telegram's webhook calls take turns on their own counter, so each process gets the manager's updates."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.dead: set[str] = set()
        self._turn = itertools.count()
        self._webhook_turn = itertools.count()
        self.served: list[tuple[str, str]] = []  # (path, backend)
        self._client: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        self._client = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    def _next(self, path: str) -> list[str]:
        turn = next(self._webhook_turn if path == WEBHOOK_PATH else self._turn)
        ordered = [self.backends[(turn + i) % len(self.backends)] for i in range(len(self.backends))]
        return [backend for backend in ordered if backend not in self.dead] or ordered

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._client is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        for backend in self._next(request.path):
            if request.headers.get("Upgrade", "").lower() == "websocket":
                try:
                    return await self._websocket(request, backend)
                except aiohttp.ClientConnectionError:
                    self.dead.add(backend)
                    continue
            try:
                async with self._client.request(request.method, backend + request.rel_url.human_repr(),
                                                headers=headers, data=body) as upstream:
                    payload = await upstream.read()
                    self.served.append((request.path, backend))
                    return web.Response(body=payload, status=upstream.status, headers={
                        k: v for k, v in upstream.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection")})
            except aiohttp.ClientConnectionError:
                # A backend that refuses connections is out (a real balancer's health check does the same).
                self.dead.add(backend)
        return web.Response(status=502, text="no backend")

    async def _websocket(self, request: web.Request, backend: str) -> web.StreamResponse:
        assert self._client is not None
        upstream = await self._client.ws_connect(backend + request.rel_url.human_repr(), heartbeat=None)
        self.served.append((request.path, backend))
        client = web.WebSocketResponse()
        await client.prepare(request)

        async def down() -> None:
            async for message in upstream:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await client.send_str(message.data)
            await client.close()

        forward = asyncio.create_task(down())
        try:
            async for message in client:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await upstream.send_str(message.data)
        finally:
            forward.cancel()
            await upstream.close()
        return client


@dataclass
class Desk:
    """N product processes; `ports[i]` reaches process i directly (for /healthz), the proxy reaches any."""

    url: str
    env: dict[str, str]
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def spawn(self, log_dir: Path, port: int) -> None:
        log_file = log_dir / f"process-{len(self.processes)}.log"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "HTTP_"))},
               **self.env, "HTTP_PORT": str(port)}
        with log_file.open("wb") as out:
            self.processes.append(subprocess.Popen([sys.executable, "run.py"], cwd=PROJECT_ROOT, env=env,
                                                   stdout=out, stderr=subprocess.STDOUT))
        self.ports.append(port)
        self.logs.append(log_file)

    async def health(self, http: aiohttp.ClientSession, index: int) -> dict[str, Any] | None:
        try:
            async with http.get(f"http://127.0.0.1:{self.ports[index]}/healthz",
                                timeout=aiohttp.ClientTimeout(total=3)) as response:
                return await response.json()  # type: ignore[no-any-return]
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = 90) -> None:
        async def ready() -> bool:
            for index, process in enumerate(self.processes):
                if process.poll() is not None:
                    raise AssertionError(self.logs[index].read_text(errors="replace")[-3000:])
            # Up as a whole: /healthz answers 200 while the Telegram side is still "starting".
            answers = [await self.health(http, i) for i in range(len(self.processes))]
            return all(answer is not None and not answer.get("starting") for answer in answers)

        await eventually(ready, timeout=timeout)

    async def roles(self, http: aiohttp.ClientSession) -> list[dict[str, Any] | None]:
        answers = [await self.health(http, i) for i in range(len(self.processes))]
        return [answer["role"] if answer else None for answer in answers]

    def kill(self, index: int) -> None:
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs)


def desk_env(pg_url: str, telegram: FakeBotAPI, **extra: str) -> dict[str, str]:
    """run.py's environment. Telegram pacing is off, as in tests/conftest.py's make_settings (waiting out a
    manager chat's pace is real time, and these tests are not about it); bench/scale_out.py turns it back on."""
    return {"DATABASE_URL": pg_url, "HTTP_HOST": "127.0.0.1", "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": str(telegram.base_url), "MANAGER_IDS": f"{MANAGER_ID},{SECOND_MANAGER_ID}",
            "ADMIN_IDS": str(ADMIN_ID), "LOG_LEVEL": "INFO", "JOBS_INTERVAL_SECONDS": "1",
            "TELEGRAM_PACE_SENDS": "false", **extra}


async def say(telegram: FakeBotAPI, user: FakeUser, text: str, expect: str, timeout: float = 15) -> None:
    await telegram.send_message(user, text)
    await telegram.wait_for_message(user.id, lambda m: expect in (m.text or ""), timeout=timeout)
