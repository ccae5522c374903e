"""Telegram link modes: webhook (secret checked, each update once), polling, and /healthz."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest

from sandbox.bot_api import FakeBotAPI
from tests.clients import MANAGER, raw_request
from tests.conftest import Desk, start_desk
from tests.procs import TOKEN

SECRET = "s3cret-Token_1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _webhook_desk(database_url: str, telegram: FakeBotAPI, port: int) -> Any:
    """The product in webhook mode on ``port``, Telegram being the ``telegram`` fake."""
    return await start_desk(
        database_url, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=str(telegram.base_url),
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}", TELEGRAM_WEBHOOK_SECRET=SECRET, HTTP_PORT=str(port),
    )


async def test_webhook_checks_the_secret_and_handles_each_update_once(
    clean_database: str, telegram: FakeBotAPI
) -> None:
    port = _free_port()
    product = await _webhook_desk(clean_database, telegram, port)
    try:
        async with aiohttp.ClientSession() as http:
            health = await (await http.get(f"{product.base_url}/healthz")).json()
            assert health["telegram"] == "webhook"
            (set_webhook,) = telegram.calls_of("setWebhook")
            assert set_webhook.params["url"] == f"http://127.0.0.1:{port}/telegram/webhook"
            assert set_webhook.params["secret_token"] == SECRET

            # A real update travels Telegram → webhook (with the secret header) → bot → Telegram.
            await telegram.send_message(MANAGER, "/start")
            reply = await telegram.wait_for_message(MANAGER.id)
            assert "рабочее место менеджера" in reply.text

            update = {"update_id": 987654, "message": {
                "message_id": 77, "date": 1_700_000_000, "chat": {"id": MANAGER.id, "type": "private"},
                "from": MANAGER.to_api(), "text": "/online",
                "entities": [{"type": "bot_command", "offset": 0, "length": 7}]}}
            url = f"{product.base_url}/telegram/webhook"
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=update, headers=headers) as response:
                    assert response.status == 401
            assert telegram.messages(MANAGER.id)[-1].message_id == reply.message_id  # nothing happened

            for _ in range(2):  # Telegram retries an update it thinks we missed
                async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                    assert r.status == 200
            online = [m for m in telegram.messages(MANAGER.id) if "Смена начата" in (m.text or "")]
            assert len(online) == 1
    finally:
        await product.stop()


async def test_polling_mode_against_a_bot_api_server(clean_database: str, telegram: FakeBotAPI) -> None:
    product = await start_desk(clean_database, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=str(telegram.base_url))
    try:
        async with aiohttp.ClientSession() as http:
            health = await (await http.get(f"{product.base_url}/healthz")).json()
            role = health.pop("role")
            assert health == {"status": "ok", "database": "ok", "telegram": "polling", "starting": []}
            assert role["poller"] is True and role["jobs_leader"] is True
            commands = telegram.calls_of("setMyCommands")
            assert {c["command"] for c in commands[0].params["commands"]} >= {
                "start", "online", "offline", "chats", "cancel"}
            await telegram.send_message(MANAGER, "/start")
            assert "рабочее место" in (await telegram.wait_for_message(MANAGER.id)).text
    finally:
        await product.stop()


async def test_healthz_is_503_when_the_database_is_down(desk: Desk) -> None:
    async with desk.http.get(f"{desk.base_url}/healthz") as response:
        assert response.status == 200
    await desk.product.db.aio_close()
    async with desk.http.get(f"{desk.base_url}/healthz") as response:
        assert response.status == 503
        assert (await response.json())["database"] == "down"
    await desk.product.db.aio_connect()


async def test_shutdown_answers_long_polls_and_closes_websockets_politely(clean_database: str) -> None:
    import asyncio
    import time

    from tests.clients import Visitor

    product = await start_desk(clean_database)
    async with aiohttp.ClientSession() as http:
        visitor = await Visitor(http, product.base_url).start()
        ws = await http.ws_connect(await visitor.ws_url())
        reading = asyncio.create_task(ws.receive())  # a browser is always listening on its socket
        waiting = asyncio.create_task(visitor.poll(timeout=25))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await product.stop()
        assert await asyncio.wait_for(waiting, 5) == []  # answered, not cut off
        message = await asyncio.wait_for(reading, 5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1001  # "going away": the widget reconnects and resumes
        assert time.monotonic() - started < 10
        await ws.close()


async def test_webhook_refuses_a_non_ascii_secret_and_a_broken_body_without_a_500(
    clean_database: str, telegram: FakeBotAPI
) -> None:
    port = _free_port()
    product = await _webhook_desk(clean_database, telegram, port)
    try:
        head = (f"POST /telegram/webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                "Connection: close\r\nContent-Length: 2\r\n").encode()
        status, _ = await raw_request(product.base_url, head + b"X-Telegram-Bot-Api-Secret-Token: \xd1\x82\xff\r\n",
                                      b"{}")
        assert status == 401
        async with aiohttp.ClientSession() as http:
            url = f"{product.base_url}/telegram/webhook"
            secret = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
            for body in ("not json", '{"update_id": "x"}', "[" * 100_000, '{"update_id": 1, "message": 5}'):
                async with http.post(url, data=body, headers=secret) as response:
                    assert response.status == 400, body[:30]
                    assert (await response.json())["error"] == "invalid_update"
    finally:
        await product.stop()


# A file lock is SQLite's: this runs on SQLite alone (not skipped on PostgreSQL, whose outage the next test covers).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_healthz_is_503_while_the_sqlite_file_is_write_locked(desk: Desk) -> None:
    import sqlite3

    holder = sqlite3.connect(str(desk.product.db.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, for as long as it likes
    try:
        async with desk.http.get(f"{desk.base_url}/healthz") as response:
            assert response.status == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    async with desk.http.get(f"{desk.base_url}/healthz") as response:
        assert response.status == 200


async def test_a_database_outage_answers_503_with_retry_after_on_the_api(desk: Desk) -> None:
    from tests.clients import Visitor

    visitor = await Visitor(desk.http, desk.base_url).start()
    await desk.product.db.aio_close()
    try:
        async with desk.http.get(f"{desk.base_url}/api/chat/state", headers=visitor.auth,
                                 params={"session_id": visitor.session_id}) as response:
            assert response.status == 503, await response.text()
            assert int(response.headers["Retry-After"]) > 0
            assert (await response.json())["error"] == "database_unavailable"
    finally:
        await desk.product.db.aio_connect()
