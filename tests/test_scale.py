"""Several run.py processes on one PostgreSQL behind a round-robin proxy, with the fake Bot API as its own server.

The whole handoff crosses processes (each request, socket and Telegram update may land on any of them),
one process is killed with SIGKILL mid-conversation, and nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sandbox.bot_api import FakeBotAPI, FakeUser
from tests.clients import MANAGER, Visitor
from tests.conftest import ADMIN_ID, MANAGER_ID, SECOND_MANAGER_ID, eventually

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "424242:scale-test-token"
SECRET = "scale-Secret_1"
WEBHOOK_PATH = "/telegram/webhook"
# PostgreSQL only: SQLite is the one-process mode, so these are not run (nor skipped) on it.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pg_url(clean_database: str) -> str:
    if not clean_database.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite is the one-process mode")
    return clean_database


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
        port = _free_port()
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
            return all([await self.health(http, i) for i in range(len(self.processes))])

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


def _env(pg_url: str, telegram: FakeBotAPI, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": pg_url, "HTTP_HOST": "127.0.0.1", "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": str(telegram.base_url), "MANAGER_IDS": f"{MANAGER_ID},{SECOND_MANAGER_ID}",
            "ADMIN_IDS": str(ADMIN_ID), "LOG_LEVEL": "INFO", "JOBS_INTERVAL_SECONDS": "1", **extra}


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotAPI]:
    fake = FakeBotAPI(TOKEN, webhook_retry_delay=0.2)
    await fake.start()
    yield fake
    await fake.stop()
    assert fake.violations == []


class SocketVisitor:
    """The widget's socket: reconnects (through the proxy, so to whichever process) and resumes by event id."""

    def __init__(self, visitor: Visitor) -> None:
        self.visitor = visitor
        self.frames: list[dict[str, Any]] = []
        self.connections = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def last_id(self) -> int:
        return max((f["id"] for f in self.frames if "id" in f), default=0)

    def stored(self, kind: str) -> list[str]:
        return [f["text"] for f in self.frames if f.get("type") == kind and "id" in f]

    async def _run(self) -> None:
        while True:
            try:
                async with self.visitor.http.ws_connect(await self.visitor.ws_url(after=self.last_id)) as ws:
                    self.connections += 1
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            self.frames.append(json.loads(message.data))
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)


async def _say(telegram: FakeBotAPI, user: FakeUser, text: str, expect: str, timeout: float = 15) -> None:
    await telegram.send_message(user, text)
    await telegram.wait_for_message(user.id, lambda m: expect in (m.text or ""), timeout=timeout)


async def test_three_processes_in_webhook_mode_behind_a_proxy_lose_nothing_when_one_is_killed(
    pg_url: str, telegram: FakeBotAPI, tmp_path: Path,
) -> None:
    async with asyncio.timeout(240):
        ports = [_free_port() for _ in range(3)]
        proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
        proxy_url = await proxy.start()
        desk = Desk(url=proxy_url, env=_env(pg_url, telegram, TELEGRAM_WEBHOOK_URL=proxy_url,
                                            TELEGRAM_WEBHOOK_SECRET=SECRET, IDLE_CLOSE_SECONDS="16"))
        for port in ports:
            desk.spawn(tmp_path, port)
        async with aiohttp.ClientSession() as http:
            try:
                await _conversation(desk, proxy, telegram, http)
            except Exception as exc:  # the processes' own logs explain a failure
                raise AssertionError(f"{exc!r}\n--- process logs ---\n{desk.log_text()[-20000:]}") from exc
            finally:
                desk.stop_all()
                await proxy.stop()


async def _conversation(desk: Desk, proxy: RoundRobinProxy, telegram: FakeBotAPI,
                        http: aiohttp.ClientSession) -> None:
    await desk.wait_ready(http)
    roles = await desk.roles(http)
    assert [r["jobs_leader"] for r in roles if r] .count(True) == 1, roles
    assert all(r and r["listening"] and r["poller"] is None for r in roles), roles
    leader = next(i for i, r in enumerate(roles) if r and r["jobs_leader"])

    await _say(telegram, MANAGER, "/start", "рабочее место менеджера")
    await _say(telegram, MANAGER, "/online", "Смена начата")
    visitor = await Visitor(http, desk.url).start(page_url="https://ilpo-taxi.ru/drivers")
    await visitor.send("Какие документы нужны?")
    result = await visitor.transfer(name="Пётр", phone="+7 900 123-45-67")
    chat_id = int(result["support_chat_id"])
    offer = await telegram.wait_for_message(MANAGER.id, lambda m: "✅ Принять чат" in m.button_texts, timeout=15)
    await telegram.press_button(MANAGER, offer.message_id, "✅ Принять чат")
    await telegram.wait_for_message(MANAGER.id, lambda m: "Режим ответа" in (m.text or ""), timeout=15)

    # The socket is opened until it lands on the leader: the process killed below then holds the socket,
    # the job leadership and the outbox at once.
    socket_visitor = SocketVisitor(visitor)
    for _attempt in range(6):
        socket_visitor.start()
        await eventually(lambda s=socket_visitor: s.connections > 0, timeout=10)
        if [b for p, b in proxy.served if p == "/api/chat/ws"][-1] == proxy.backends[leader]:
            break
        await socket_visitor.stop()
        socket_visitor = SocketVisitor(visitor)
    else:
        raise AssertionError("the proxy never put the socket on the leader")
    try:
        for n in range(1, 7):
            await telegram.send_message(MANAGER, f"Ответ {n}")
            await visitor.send(f"Вопрос {n}")
        answers = [f"Ответ {n}" for n in range(1, 7)]
        await eventually(lambda: socket_visitor.stored("manager_message") == answers, timeout=20)

        # Every process had a share: the visitor's calls, the socket and the manager's updates spread out.
        api_backends = {b for p, b in proxy.served if p.startswith("/api/chat/") and p != "/api/chat/ws"}
        webhook_backends = [b for p, b in proxy.served if p == WEBHOOK_PATH]
        assert api_backends == set(proxy.backends)
        assert set(webhook_backends) == set(proxy.backends) and len(webhook_backends) >= 9

        # Kill the leader while the visitor writes: its socket, its pending outbox rows and its jobs move.
        sent_before_kill = [f"Вопрос {n}" for n in range(1, 7)]
        for n in range(7, 10):
            await visitor.send(f"Вопрос {n}")
        desk.kill(leader)
        for n in range(10, 13):
            await visitor.send(f"Вопрос {n}")
        for n in range(7, 10):
            await telegram.send_message(MANAGER, f"Ответ {n}")
        questions = sent_before_kill + [f"Вопрос {n}" for n in range(7, 13)]

        def relayed() -> list[str]:
            texts = [m.text or "" for m in telegram.messages(MANAGER.id) if f"чат #{chat_id}" in (m.text or "")]
            return [line for text in texts for line in text.splitlines() if line.startswith("Вопрос ")]

        await eventually(lambda: relayed() == questions, timeout=15)
        answers += [f"Ответ {n}" for n in range(7, 10)]
        await eventually(lambda: socket_visitor.stored("manager_message") == answers, timeout=20)
        assert socket_visitor.connections >= 2  # it reconnected, through the proxy, to another process
        assert [t for t in socket_visitor.stored("user_message") if t.startswith("Вопрос ")] == questions

        async def leader_moved() -> bool:
            now = await desk.roles(http)
            return [r["jobs_leader"] for r in now if r].count(True) == 1 and now[leader] is None

        await eventually(leader_moved, timeout=10)

        # The new leader runs the jobs: the idle chat is warned, then closed, and the socket hears it.
        await eventually(lambda: any(f.get("chat", {}).get("status") == "closed" for f in socket_visitor.frames),
                         timeout=40)
        ids = [f["id"] for f in socket_visitor.frames if "id" in f]
        assert ids == sorted(set(ids))  # every stored event once, in order, across the reconnect
    finally:
        await socket_visitor.stop()


async def test_two_processes_in_polling_mode_one_polls_and_the_other_takes_over(
    pg_url: str, telegram: FakeBotAPI, tmp_path: Path,
) -> None:
    async with asyncio.timeout(180):
        desk = Desk(url="", env=_env(pg_url, telegram))
        for _ in range(2):
            desk.spawn(tmp_path, _free_port())
        async with aiohttp.ClientSession() as http:
            try:
                await desk.wait_ready(http)
                roles = await desk.roles(http)
                assert sorted(bool(r and r["poller"]) for r in roles) == [False, True], roles
                poller = next(i for i, r in enumerate(roles) if r and r["poller"])
                await _say(telegram, MANAGER, "/start", "рабочее место менеджера")
                await asyncio.sleep(3)  # the waiting process keeps waiting; nobody fights over getUpdates
                assert not any("terminated by other getUpdates" in str(c.error or "")
                               for c in telegram.calls_of("getUpdates"))
                await _say(telegram, MANAGER, "/online", "Смена начата")

                desk.kill(poller)
                killed_at = asyncio.get_running_loop().time()
                # Written while nobody polls: handled once the other process takes over, within 10 s.
                await telegram.send_message(MANAGER, "/offline")
                await telegram.wait_for_message(MANAGER.id, lambda m: "Смена завершена" in (m.text or ""),
                                                timeout=15)
                assert asyncio.get_running_loop().time() - killed_at < 12
                other = 1 - poller
                answer = await desk.health(http, other)
                assert answer and answer["role"]["poller"] is True and answer["role"]["jobs_leader"] is True
                await _say(telegram, MANAGER, "/online", "Смена начата")
                texts = [m.text or "" for m in telegram.messages(MANAGER.id)]
                assert sum("рабочее место менеджера" in t for t in texts) == 1
                assert sum("Смена начата" in t for t in texts) == 2  # one per /online: nothing handled twice
            except Exception as exc:  # the processes' own logs explain a failure
                raise AssertionError(f"{exc!r}\n--- process logs ---\n{desk.log_text()[-20000:]}") from exc
            finally:
                desk.stop_all()
