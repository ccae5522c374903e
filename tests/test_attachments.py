"""Photos and documents in chats: the visitor's reach the manager as Telegram files, the manager's reach the widget."""

from __future__ import annotations

import aiohttp

from models import Attachment, ChatMessage
from tests.clients import MANAGER, Visitor, accepted_chat, go_online
from tests.conftest import Desk

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def upload(
    visitor: Visitor, data: bytes, filename: str, content_type: str, **fields: str
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    session_id = fields.pop("session_id", visitor.session_id)  # in the URL: checked before the body is read
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", data, filename=filename, content_type=content_type)
    return await visitor.http.post(f"{visitor.base_url}/api/chat/upload", data=form, headers=visitor.auth,
                                   params={"session_id": session_id})


async def test_visitor_document_reaches_the_manager_as_a_file(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accepted_chat(desk, visitor)
    async with await upload(visitor, PDF, "Права <скан>.pdf", "application/pdf", caption="Вот мои права",
                            client_message_id="file-1") as response:
        assert response.status == 200, await response.text()
        event = await response.json()
    assert event["type"] == "user_message" and event["text"] == "Вот мои права"
    attachment = event["attachment"]
    assert attachment["name"] == "Права <скан>.pdf" and attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(PDF)

    sent = await desk.fake.wait_for_message(MANAGER.id, lambda m: m.document is not None)
    assert sent.document.data == PDF and sent.document.filename == "Права <скан>.pdf"
    assert sent.caption.startswith(f"📎 Пётр <Водитель> · чат #{chat_id}") and "Вот мои права" in sent.caption
    assert "💬 Ответить" in sent.button_texts
    # Reply-by-quote works on the file message too.
    await desk.fake.send_message(MANAGER, "Получил, спасибо", reply_to_message_id=sent.message_id)
    await visitor.wait_for(lambda e: e["type"] == "manager_message" and "Получил" in e["text"])

    url = f"{desk.base_url}/api/chat/attachments/{attachment['id']}"
    async with desk.http.get(desk.base_url + attachment["url"]) as response:  # the event's signed link
        assert response.status == 200 and await response.read() == PDF
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment;")
    other = await Visitor(desk.http, desk.base_url).start()
    async with desk.http.get(url, params={"session_id": other.session_id}, headers=other.auth) as response:
        assert response.status == 404  # nobody else's chat files
    async with desk.http.get(url, params={"session_id": visitor.session_id}) as response:
        assert response.status == 401


async def test_bad_files_are_refused_clearly_and_nothing_is_stored(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    cases = [
        (b"#!/bin/sh\nrm -rf /\n", "run.sh", "application/pdf", 415, "unsupported_file"),  # the bytes decide
        (b"", "empty.pdf", "application/pdf", 400, "invalid_field"),
        (b"%PDF-" + b"0" * (10 * 1024 * 1024), "huge.pdf", "application/pdf", 413, "file_too_large"),
    ]
    for data, name, content_type, status, code in cases:
        async with await upload(visitor, data, name, content_type) as response:
            assert response.status == status, name
            assert (await response.json())["error"] == code
    async with await upload(visitor, PDF, "x.pdf", "application/pdf", session_id="nope") as response:
        assert response.status == 404
    async with desk.http.post(f"{desk.base_url}/api/chat/upload", json={"session_id": visitor.session_id},
                              headers=visitor.auth, params={"session_id": visitor.session_id}) as response:
        assert response.status == 400
    assert await Attachment.select().aio_count() == 0
    assert await ChatMessage.select().aio_count() == 0


async def test_a_file_in_ai_mode_offers_the_manager(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    async with await upload(visitor, PNG, "паспорт.png", "image/png") as response:
        event = await response.json()
    assert event["text"] == "📎 паспорт.png" and event["attachment"]["content_type"] == "image/png"
    offer = await visitor.wait_for(lambda e: e.get("offer_manager") is True)
    assert offer["id"] > event["id"]
    assert await ChatMessage.select().where(ChatMessage.sender == "ai").aio_count() == 0


async def test_manager_document_reaches_the_widget(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await accepted_chat(desk, visitor)  # reply mode is on after accepting
    await desk.fake.send_document(MANAGER, "Договор аренды.pdf", PDF, caption="Договор для ознакомления",
                                  content_type="application/pdf")
    confirmation = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Файл отправлен" in (m.text or ""))
    assert confirmation.text.startswith("✅ Файл отправлен клиенту")
    event = await visitor.wait_for(lambda e: e["type"] == "manager_message" and "attachment" in e)
    assert event["text"] == "Договор для ознакомления" and event["author"]["name"] == "Анна Смирнова"
    assert event["attachment"]["name"] == "Договор аренды.pdf"
    url = f"{desk.base_url}/api/chat/attachments/{event['attachment']['id']}"
    async with desk.http.get(url, headers=visitor.auth, params={"session_id": visitor.session_id}) as response:
        assert await response.read() == PDF

    await desk.fake.send_document(MANAGER, "notes.txt", b"plain text", content_type="text/plain")
    refused = await desk.fake.wait_for_message(MANAGER.id, lambda m: "фото" in (m.text or ""))
    assert "PDF" in refused.text
    assert await Attachment.select().aio_count() == 1
