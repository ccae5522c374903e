"""The bot speaks each manager's Telegram language when a catalog exists: replies to an update use the sender's
language_code, and notifications queued through the outbox use the manager's stored one."""

from __future__ import annotations

import dataclasses

from models import Manager
from sandbox.model import FakeUser
from tests.clients import MANAGER, Visitor, offer_to, say
from tests.conftest import Desk

ENGLISH = dataclasses.replace(MANAGER, language_code="en-GB")
GERMAN = dataclasses.replace(MANAGER, language_code="de")


async def test_an_english_manager_gets_english_replies_and_notifications(desk: Desk) -> None:
    menu = await say(desk, ENGLISH, "/start")
    assert "this is the ILPO-TAXI manager's desk" in menu and "How it works" in menu
    assert {"🟢 Start shift", "💬 My chats"} <= set(desk.fake.messages(ENGLISH.id)[-1].button_texts)
    await say(desk, ENGLISH, "/online")
    stored = await Manager.aio_get(Manager.telegram_id == ENGLISH.id)
    assert stored.language_code == "en-GB"

    # An offer is queued by the visitor's request, not by an update from the manager: the stored language.
    visitor = await Visitor(desk.http, desk.base_url).start()
    await visitor.transfer(name="Pyotr", phone="+7 900 123-45-67")
    offer = await offer_to(desk, ENGLISH)
    assert "The client is waiting." in offer.text and "Клиент ждёт" not in offer.text


async def test_a_language_without_a_catalog_gets_russian(desk: Desk) -> None:
    user: FakeUser = GERMAN
    menu = await say(desk, user, "/start")
    assert "это рабочее место менеджера" in menu
    assert "Как работать" in await say(desk, user, "/help")  # registered by /start: now the row is stored
    assert (await Manager.aio_get(Manager.telegram_id == user.id)).language_code == "de"
