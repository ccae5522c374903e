"""Telegram delivery through faults: a proxy's HTML error page is a retryable 5xx, and a call cut off by a crash
is sent again once, visibly marked, instead of silently twice or never."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web

from models import Manager, Outbox, OutboxStatus
from sandbox.bot_api import FakeBotAPI
from support.outbox import REPEAT_MARKER, OutgoingCall, enqueue
from tests.clients import MANAGER, SECOND_MANAGER
from tests.conftest import Desk, eventually, start_desk
from tests.procs import TOKEN


async def test_a_non_json_5xx_from_the_bot_api_is_retried_with_backoff_and_counted(
    clean_database: str, telegram: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # A reverse proxy in front of the Bot API that answers its own HTML page for the next few sendMessage calls.
    html_pages = {"left": 0}

    async def proxy(request: web.Request) -> web.StreamResponse:
        if request.path.lower().endswith("/sendmessage") and html_pages["left"] > 0:
            html_pages["left"] -= 1
            return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                                content_type="text/html")
        async with aiohttp.ClientSession() as http, http.request(
                request.method, f"{telegram.base_url}{request.path_qs}".replace("//bot", "/bot"),
                data=await request.read(), headers={"Content-Type": request.content_type}) as upstream:
            return web.Response(status=upstream.status, body=await upstream.read(),
                                content_type=upstream.content_type)

    app = web.Application(client_max_size=50 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    product = await start_desk(clean_database, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=f"http://127.0.0.1:{port}")
    try:
        await telegram.send_message(MANAGER, "/start")
        await telegram.wait_for_message(MANAGER.id)
        html_pages["left"] = 2
        (row,) = await enqueue([OutgoingCall(chat_id=MANAGER.id, method="sendMessage",
                                             params={"chat_id": MANAGER.id, "text": "через прокси"})])
        product.worker.wake()
        delivered = await telegram.wait_for_message(MANAGER.id, lambda m: m.text == "через прокси", timeout=15)
        assert delivered.text == "через прокси"
        await eventually(lambda: _status_is(row.id, OutboxStatus.SENT))
        row = await Outbox.aio_get(Outbox.id == row.id)
        assert row.status == OutboxStatus.SENT and row.attempts == 3  # two HTML pages, then delivered
        assert not any("round failed" in record.getMessage() for record in caplog.records)
        assert any("not JSON" in record.getMessage() and record.levelno == logging.WARNING
                   for record in caplog.records)
    finally:
        await product.stop()
        await runner.cleanup()


async def test_a_call_is_marked_sending_before_it_leaves(desk: Desk) -> None:
    await desk.fake.send_message(MANAGER, "/start")
    await desk.fake.wait_for_message(MANAGER.id)
    desk.fake.inject_fault("sendMessage", "timeout", delay=1.5)
    (row,) = await enqueue([OutgoingCall(chat_id=MANAGER.id, method="sendMessage",
                                         params={"chat_id": MANAGER.id, "text": "в пути"})])
    desk.product.worker.wake()

    async def in_flight() -> bool:
        return (await Outbox.aio_get(Outbox.id == row.id)).status == OutboxStatus.SENDING

    await eventually(in_flight)
    await desk.fake.wait_for_message(MANAGER.id, lambda m: m.text == "в пути", timeout=15)
    await eventually(lambda: _status_is(row.id, OutboxStatus.SENT))


async def _status_is(row_id: int, status: str) -> bool:
    return bool((await Outbox.aio_get(Outbox.id == row_id)).status == status)


async def test_calls_in_flight_at_a_crash_are_resent_once_marked_as_a_repeat(clean_database: str) -> None:
    product = await start_desk(clean_database)
    try:
        for manager in (MANAGER, SECOND_MANAGER):
            await product.fake.send_message(manager, "/start")
            await product.fake.wait_for_message(manager.id)
        # The second manager's Telegram speaks English: their repeat is marked in English.
        await Manager.update(language_code="en").where(Manager.telegram_id == SECOND_MANAGER.id).aio_execute()
        await product.worker.stop()  # the process "dies" with these calls on their way
        row, english = await enqueue([
            OutgoingCall(chat_id=MANAGER.id, method="sendMessage",
                         params={"chat_id": MANAGER.id, "text": "Клиент: нужна помощь"}),
            OutgoingCall(chat_id=SECOND_MANAGER.id, method="sendMessage",
                         params={"chat_id": SECOND_MANAGER.id, "text": "Client: needs help"})])
        await Outbox.update(status=OutboxStatus.SENDING).where(Outbox.id.in_([row.id, english.id])).aio_execute()
    finally:
        await product.stop()
    product = await start_desk(clean_database)
    try:
        repeat = await product.fake.wait_for_message(MANAGER.id, lambda m: "нужна помощь" in (m.text or ""))
        assert repeat.text == f"{REPEAT_MARKER} Клиент: нужна помощь"

        async def marked_in_english() -> bool:  # (this fresh fake Telegram has not met the second manager)
            payload = (await Outbox.aio_get(Outbox.id == english.id)).payload
            return '"(repeat) Client: needs help"' in payload

        await eventually(marked_in_english)
        await eventually(lambda: _status_is(row.id, OutboxStatus.SENT))
        assert [m.text for m in product.fake.messages(MANAGER.id) if "нужна помощь" in (m.text or "")] == [
            repeat.text]
    finally:
        await product.stop()
