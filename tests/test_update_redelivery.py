"""A manager's Telegram update is never lost and never handled twice across run.py processes (webhook mode):
the same update at several processes at once, a redelivery after success, and a process killed (SIGKILL)
mid-handler, before and after the handler stored the message. The real aiogram stack, over HTTP, against the
fake Bot API, with the round-robin proxy of tests/procs.py in front.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.bot_api import FakeBotAPI
from tests.clients import MANAGER, Visitor
from tests.conftest import eventually
from tests.procs import SECRET, WEBHOOK_PATH, Desk, RoundRobinProxy, desk_env, free_port, say

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
# PostgreSQL only: SQLite is the one-process mode, so these are not run (nor skipped) on it.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


class TrackingProxy(RoundRobinProxy):
    """Remembers which process Telegram's latest webhook call went to (the one to kill mid-handler)."""

    webhook_backend = ""

    def _next(self, path: str) -> list[str]:
        order = super()._next(path)
        if path == WEBHOOK_PATH:
            self.webhook_backend = order[0]
        return order


async def _manager_texts(visitor: Visitor) -> list[str]:
    return [event["text"] for event in await visitor.poll(after=0) if event["type"] == "manager_message"]


def _confirmations(telegram: FakeBotAPI, message_id: int) -> int:
    return sum(1 for m in telegram.messages(MANAGER.id) if m.reply_to == message_id and "Отправлено" in (m.text or ""))


def _pending(telegram: FakeBotAPI, message_id: int) -> dict[str, Any]:
    """The update the fake is about to deliver for the manager's message (to deliver it ourselves too)."""
    return next(u for u in telegram._updates if u.get("message", {}).get("message_id") == message_id)


async def test_an_update_is_handled_once_at_any_process_and_never_lost_when_its_handler_dies(
    pg_url: str, telegram: FakeBotAPI, tmp_path: Path,
) -> None:
    async with asyncio.timeout(240):
        ports = [free_port() for _ in range(3)]
        proxy = TrackingProxy([f"http://127.0.0.1:{port}" for port in ports])
        proxy_url = await proxy.start()
        desk = Desk(url=proxy_url, env=desk_env(pg_url, telegram, TELEGRAM_WEBHOOK_URL=proxy_url,
                                                 TELEGRAM_WEBHOOK_SECRET=SECRET))
        for port in ports:
            desk.spawn(tmp_path, port)
        async with aiohttp.ClientSession() as http:
            try:
                await _scenario(desk, proxy, telegram, http)
            except Exception as exc:  # the processes' own logs explain a failure
                raise AssertionError(f"{exc!r}\n--- process logs ---\n{desk.log_text()[-20000:]}") from exc
            finally:
                desk.stop_all()
                await proxy.stop()


async def _scenario(desk: Desk, proxy: TrackingProxy, telegram: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    await desk.wait_ready(http)
    await say(telegram, MANAGER, "/start", "рабочее место менеджера")
    await say(telegram, MANAGER, "/online", "Смена начата")
    visitor = await Visitor(http, desk.url).start()
    await visitor.transfer(name="Пётр", phone="+7 900 123-45-67")
    offer = await telegram.wait_for_message(MANAGER.id, lambda m: "✅ Принять чат" in m.button_texts, timeout=15)
    await telegram.press_button(MANAGER, offer.message_id, "✅ Принять чат")
    await telegram.wait_for_message(MANAGER.id, lambda m: "Режим ответа" in (m.text or ""), timeout=15)

    # 1. The same update at every process at once (Telegram retrying while the first is still busy), and the
    #    fake's own delivery through the proxy besides: one process handles it, the others wait and do nothing.
    sent = await telegram.send_message(MANAGER, "Ответ 1")
    update = json.dumps(_pending(telegram, sent["message_id"]), ensure_ascii=False)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def deliver(backend: str) -> int:
        async with http.post(backend + WEBHOOK_PATH, data=update, headers=headers) as response:
            return response.status

    assert await asyncio.gather(*(deliver(b) for b in proxy.backends)) == [200, 200, 200]
    await eventually(lambda: _confirmations(telegram, sent["message_id"]) == 1, timeout=15)
    await asyncio.sleep(1)  # anything doubled would show by now
    assert await _manager_texts(visitor) == ["Ответ 1"]
    assert _confirmations(telegram, sent["message_id"]) == 1

    # 2. A redelivery after success changes nothing.
    assert await asyncio.gather(*(deliver(b) for b in proxy.backends)) == [200, 200, 200]
    await asyncio.sleep(1)
    assert await _manager_texts(visitor) == ["Ответ 1"]
    assert _confirmations(telegram, sent["message_id"]) == 1

    # 3. Killed before the handler stored anything: the file download (its first Bot API call) stalls and the
    #    process is killed. The update was never acknowledged, so it comes again, to another process, which waits
    #    out the dead claim's lease and handles it: the visitor gets the file once.
    telegram.inject_fault("getFile", "timeout", delay=120)
    await telegram.send_document(MANAGER, "scan.pdf", PDF, caption="Скан договора", content_type="application/pdf")
    await eventually(lambda: len(telegram.calls_of("getFile")) == 1, timeout=15)
    victim = proxy.backends.index(proxy.webhook_backend)
    desk.kill(victim)
    await eventually(_has(visitor, "Скан договора"), timeout=30)
    await asyncio.sleep(1)
    assert await _manager_texts(visitor) == ["Ответ 1", "Скан договора"]
    assert sum("Файл отправлен клиенту" in (m.text or "") for m in telegram.messages(MANAGER.id)) == 1

    # 4. Killed after the handler stored the message, while it confirms to the manager: the redelivery finds
    #    the stored message, relays nothing new, and confirms.
    telegram.inject_fault("sendMessage", "timeout", delay=120)
    sent = await telegram.send_message(MANAGER, "Ответ 2")
    await eventually(_has(visitor, "Ответ 2"), timeout=15)
    await eventually(lambda: any(c.fault == "timeout" for c in telegram.calls_of("sendMessage")), timeout=15)
    victim = proxy.backends.index(proxy.webhook_backend)
    desk.kill(victim)
    await eventually(lambda: _confirmations(telegram, sent["message_id"]) == 1, timeout=30)
    await asyncio.sleep(1)
    assert await _manager_texts(visitor) == ["Ответ 1", "Скан договора", "Ответ 2"]
    assert _confirmations(telegram, sent["message_id"]) == 1
    assert "handling it here" in desk.log_text()  # the dead claims were taken over, not ignored


def _has(visitor: Visitor, text: str) -> Any:
    async def check() -> bool:
        return text in await _manager_texts(visitor)
    return check
