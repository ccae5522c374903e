"""Several run.py processes on one PostgreSQL behind a round-robin proxy, with the fake Bot API as its own server.

The whole handoff crosses processes (each request, socket and Telegram update may land on any of them),
one process is killed with SIGKILL mid-conversation, and nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.bot_api import FakeBotAPI
from tests.clients import MANAGER, Visitor
from tests.conftest import eventually
from tests.procs import SECRET, WEBHOOK_PATH, Desk, RoundRobinProxy, desk_env, free_port, say

# PostgreSQL only: SQLite is the one-process mode, so these are not run (nor skipped) on it.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


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


async def test_three_processes_in_webhook_mode_behind_a_proxy_lose_nothing_when_one_is_killed(
    pg_url: str, telegram: FakeBotAPI, tmp_path: Path,
) -> None:
    async with asyncio.timeout(240):
        ports = [free_port() for _ in range(3)]
        proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
        proxy_url = await proxy.start()
        desk = Desk(url=proxy_url, env=desk_env(pg_url, telegram, TELEGRAM_WEBHOOK_URL=proxy_url,
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

    await say(telegram, MANAGER, "/start", "рабочее место менеджера")
    await say(telegram, MANAGER, "/online", "Смена начата")
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
        # The proxy records a webhook call once its answer is back, which may be after the socket got the message.
        await eventually(lambda: len([b for p, b in proxy.served if p == WEBHOOK_PATH]) >= 9, timeout=10)
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
            """The questions as the manager reads them. A call the killed process had on its way may have reached
            Telegram: the new sender sends it again marked «(повтор)» (at least once, never silently twice), so a
            repeat of a question already shown is the one duplicate allowed."""
            shown: list[str] = []
            for message in telegram.messages(MANAGER.id):
                text = message.text or ""
                if f"чат #{chat_id}" not in text:
                    continue
                repeat = text.startswith("(повтор)")
                shown += [line for line in text.splitlines()
                          if line.startswith("Вопрос ") and not (repeat and line in shown)]
            return shown

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
        desk = Desk(url="", env=desk_env(pg_url, telegram))
        for _ in range(2):
            desk.spawn(tmp_path, free_port())
        async with aiohttp.ClientSession() as http:
            try:
                await desk.wait_ready(http)
                roles = await desk.roles(http)
                assert sorted(bool(r and r["poller"]) for r in roles) == [False, True], roles
                poller = next(i for i, r in enumerate(roles) if r and r["poller"])
                await say(telegram, MANAGER, "/start", "рабочее место менеджера")
                await asyncio.sleep(3)  # the waiting process keeps waiting; nobody fights over getUpdates
                assert not any("terminated by other getUpdates" in str(c.error or "")
                               for c in telegram.calls_of("getUpdates"))
                await say(telegram, MANAGER, "/online", "Смена начата")

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
                await say(telegram, MANAGER, "/online", "Смена начата")
                texts = [m.text or "" for m in telegram.messages(MANAGER.id)]
                assert sum("рабочее место менеджера" in t for t in texts) == 1
                assert sum("Смена начата" in t for t in texts) == 2  # one per /online: nothing handled twice
            except Exception as exc:  # the processes' own logs explain a failure
                raise AssertionError(f"{exc!r}\n--- process logs ---\n{desk.log_text()[-20000:]}") from exc
            finally:
                desk.stop_all()
