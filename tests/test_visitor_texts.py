"""The visitor's words: refusals in the widget's language, queue places said in words, no guessed gender."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from support.texts import error_text, known_error_codes, queue_text, visitor_text
from tests.clients import Visitor
from tests.conftest import Desk

ROOT = Path(__file__).resolve().parent.parent


async def refuse_script(visitor: Visitor, language: str | None) -> tuple[int, dict[str, str]]:
    form = aiohttp.FormData()
    form.add_field("file", b"#!/bin/sh\necho hi\n", filename="run.sh", content_type="application/pdf")
    headers = dict(visitor.auth)
    if language:
        headers["Accept-Language"] = language
    async with visitor.http.post(f"{visitor.base_url}/api/chat/upload", data=form, headers=headers,
                                 params={"session_id": visitor.session_id}) as response:
        return response.status, await response.json()


async def test_a_refusal_speaks_the_widgets_language(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    status, body = await refuse_script(visitor, "ru")
    assert status == 415 and body["error"] == "unsupported_file"
    assert body["message"] == "Можно отправить только фото (JPEG, PNG, WebP, HEIC) или PDF."
    _, body = await refuse_script(visitor, "en")
    assert body["message"] == "Only photos (JPEG, PNG, WebP, HEIC) and PDF files."
    # The limits keep their figures in either language.
    russian = {**visitor.auth, "Accept-Language": "ru"}
    async with desk.http.post(f"{desk.base_url}/api/chat/send-message", headers=russian,
                              json={"session_id": visitor.session_id, "text": "x" * 5000}) as response:
        body = await response.json()
    assert response.status == 413 and body["message"] == "Сообщение слишком длинное (до 4000 символов)."
    async with desk.http.post(f"{desk.base_url}/api/chat/send-message", headers=russian,
                              json={"session_id": visitor.session_id, "text": "   "}) as response:
        body = await response.json()
    assert response.status == 400 and body["field"] == "text" and body["message"] == "Сообщение пустое."


def test_every_refusal_the_widget_can_meet_has_its_words() -> None:
    """A new error code in the widget's API or the file checks must come with its Russian and English text."""
    sources = [ROOT / "widget" / "api.py", ROOT / "widget" / "guard.py", ROOT / "support" / "attachments.py",
               ROOT / "support" / "service.py", ROOT / "webhook" / "http_api.py"]
    raised = set()
    for source in sources:
        text = source.read_text(encoding="utf-8")
        raised |= set(re.findall(r'(?:api_error|ApiError)\(\s*\w+,\s*"([a-z_]+)"', text))
        raised |= set(re.findall(r'AttachmentRejected\("([a-z_]+)"', text))
        raised |= set(re.findall(r'"error": "([a-z_]+)"', text))
    assert raised and raised <= known_error_codes(), raised - known_error_codes()
    for code in raised:
        assert not re.search("[A-Za-z]{4,}", error_text(code, "ru", limit=1, mb=1, retry_after=1).replace("JPEG", "")
                             .replace("PNG", "").replace("WebP", "").replace("HEIC", "").replace("PDF", "")), code


def test_queue_places_in_words_and_an_estimate_only_when_given() -> None:
    assert queue_text(1, None, "ru") == "🕐 Вы первый в очереди."
    assert queue_text(3, 12, "ru") == "🕐 Вы третий в очереди. Примерное ожидание — около 12 мин."
    assert queue_text(14, None, "ru") == "🕐 Ваше место в очереди: 14."
    assert queue_text(1, None, "en") == "🕐 You are first in the queue."


def test_manager_texts_do_not_guess_gender_or_decline_names() -> None:
    for key in ("assigned", "closed_by_manager", "colleague_joined", "manager_left", "transferred"):
        text = visitor_text(key, "ru", manager="Саша")
        assert "Саша, менеджер" in text, text
        assert not re.search(r"\b(подключился|подключилась|завершил|завершила|Он|Она)\b", text), text
