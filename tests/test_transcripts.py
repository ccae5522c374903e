"""Transcripts by email: a local SMTP server (aiosmtpd) started by the test receives what the desk sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from app.product import Product
from models import EmailDelivery, Manager, OutboxStatus
from tests.clients import MANAGER, Visitor, accepted_chat, go_online
from tests.conftest import Desk, start_desk
from tests.fakes import Inbox, free_port, parts, smtp_env

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp(smtp_port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
async def mail_desk(clean_database: str, smtp_port: int) -> AsyncIterator[Desk]:
    product: Product = await start_desk(clean_database, **smtp_env(smtp_port, EMAIL_TRANSCRIPTS_TO="boss@ilpo.test"))
    async with aiohttp.ClientSession() as http:
        try:
            yield Desk(product=product, base_url=product.base_url, http=http)
        finally:
            await product.stop()


async def ask_transcript(visitor: Visitor, address: str) -> tuple[int, dict[str, Any]]:
    async with visitor.http.post(f"{visitor.base_url}/api/chat/transcript", headers=visitor.auth,
                                 json={"session_id": visitor.session_id, "email": address}) as response:
        return response.status, await response.json()


async def test_the_visitor_gets_the_conversation_with_both_parts_and_file_links(smtp: Inbox, mail_desk: Desk) -> None:
    visitor = await Visitor(mail_desk.http, mail_desk.base_url).start(locale="ru")
    assert (await visitor.state())["email"] is True
    await visitor.send("Как подключиться к парку?")
    await visitor.wait_for(lambda e: e["type"] == "ai_message")
    form = aiohttp.FormData()
    form.add_field("file", PDF, filename="права.pdf", content_type="application/pdf")
    async with mail_desk.http.post(f"{mail_desk.base_url}/api/chat/upload", data=form, headers=visitor.auth,
                                   params={"session_id": visitor.session_id}) as r:
        assert r.status == 200, await r.text()

    assert await ask_transcript(visitor, "not-an-address") == (400, {
        "error": "invalid_field", "message": "email: not a valid address", "field": "email"})
    status, body = await ask_transcript(visitor, "driver@example.com")
    assert (status, body) == (202, {"status": "queued"})

    [message] = await smtp.wait()
    assert message["To"] == "driver@example.com" and message["From"] == "support@ilpo-taxi.test"
    assert "ILPO-TAXI" in message["Subject"]
    text, html = parts(message)
    assert "Как подключиться к парку?" in text and "ИИ-консультант" in text
    assert "Как подключиться к парку?" in html and "<table" in html
    link = next(line.split(": ", 1)[1] for line in text.splitlines() if "/api/chat/files/" in line)
    assert link in html
    async with mail_desk.http.get(link) as response:  # the link opens the file without the session's token
        assert response.status == 200 and await response.read() == PDF
    async with mail_desk.http.get(link[:-4] + "0000") as response:  # a forged signature opens nothing
        assert response.status == 404


async def test_admins_get_each_closed_chat(smtp: Inbox, mail_desk: Desk) -> None:
    await go_online(mail_desk, MANAGER)
    visitor = await Visitor(mail_desk.http, mail_desk.base_url).start()
    await visitor.send("Нужен менеджер по выплатам")
    chat_id = await accepted_chat(mail_desk, visitor)
    await mail_desk.fake.send_message(MANAGER, "Выплаты по пятницам")
    await visitor.wait_for(lambda e: e["type"] == "manager_message")
    manager = await Manager.aio_get(Manager.telegram_id == MANAGER.id)
    await mail_desk.service.lifecycle.close(manager, chat_id)  # however a chat closes, the hook runs in it
    [message] = await smtp.wait()
    assert message["To"] == "boss@ilpo.test" and f"№{chat_id}" in message["Subject"]
    text, html = parts(message)
    assert "Выплаты по пятницам" in text and "Выплаты по пятницам" in html
    assert "Нужен менеджер по выплатам" in text


async def test_a_failed_send_is_retried_until_the_server_is_back(clean_database: str, smtp_port: int) -> None:
    product: Product = await start_desk(clean_database, **smtp_env(smtp_port))  # nobody listens there yet
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    try:
        async with aiohttp.ClientSession() as http:
            visitor = await Visitor(http, product.base_url).start()
            await visitor.send("Привет")
            assert (await ask_transcript(visitor, "driver@example.com"))[0] == 202
            for _ in range(100):
                row = await EmailDelivery.aio_get()
                if row.attempts >= 1:
                    break
                await asyncio.sleep(0.05)
            assert row.status == OutboxStatus.PENDING and row.attempts >= 1 and row.last_error
            controller.start()
            await EmailDelivery.update(next_attempt_at=row.created_at).aio_execute()  # no need to wait the backoff
            [message] = await inbox.wait()
            assert "Привет" in parts(message)[0]
            for _ in range(100):
                if (await EmailDelivery.aio_get()).status == OutboxStatus.SENT:
                    break
                await asyncio.sleep(0.05)
            assert (await EmailDelivery.aio_get()).status == OutboxStatus.SENT
    finally:
        if controller._thread is not None:
            controller.stop()
        await product.stop()


async def test_without_smtp_the_option_is_hidden_and_refused(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    assert (await visitor.state())["email"] is False
    status, body = await ask_transcript(visitor, "driver@example.com")
    assert (status, body["error"]) == (404, "email_unavailable")
    assert await EmailDelivery.select().aio_count() == 0
