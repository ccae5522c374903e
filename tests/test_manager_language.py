"""The bot speaks each manager's Telegram language when a catalog exists: replies to an update use the sender's
language_code, and notifications queued through the outbox use the manager's stored one."""

from __future__ import annotations

import dataclasses
import re

from models import Manager
from sandbox.model import FakeUser, SentMessage
from tests.clients import MANAGER, SECOND_MANAGER, Visitor, offer_to, press, say
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



CYRILLIC = re.compile("[А-Яа-яЁё]")
# What a manager reads at each step of one chat, in each language (client names are HTML-escaped on the way).
WORDS = {
    "en": {
        "client": "Pyotr <Driver>", "question": "How much is the weekly rent?", "later": "Is a deposit needed?",
        "online": "Shift started", "card": "🆕 Support chat #{chat}", "client_line": "👤 Client: {client}",
        "phone_line": "📞 Phone: +7 900 123-45-67", "waiting": "The client is waiting.",
        "offer_buttons": ["✅ Take chat", "📋 Details", "📞 Call"], "details_button": "📋 Details",
        "details": "📋 Chat #{chat} — ⏳ waiting for a manager", "history": "History:", "take": "✅ Take chat",
        "yours": "✅ Chat #{chat} is yours.", "took": "✅ You took this chat.",
        "card_buttons": {"💬 Reply", "📋 Details", "📝 Templates", "📞 Call", "↪️ Transfer", "👥 Invite", "🔚 Close"},
        "reply_mode": "💬 Reply mode: your messages go to {client} (chat #{chat}).",
        "page_buttons": ["💬 Reply", "🔚 Close"], "header": "💬 {client} · chat #{chat}",
        "relay_buttons": ["💬 Reply", "📋 Details"], "close": "🔚 Close",
        "confirm": ("🔚 Close chat #{chat} · {client}?\n"
                    "The client will see that the conversation is over and can rate it."),
        "confirm_buttons": ["Yes, close it", "Cancel"], "closed": "🔚 Chat #{chat} closed.",
        "done": "🔚 Chat #{chat} · {client} is closed. The client has been told.",
    },
    "ru": {
        "client": "Пётр <Водитель>", "question": "Сколько стоит аренда в неделю?", "later": "Нужен ли залог?",
        "online": "Смена начата", "card": "🆕 Чат поддержки #{chat}", "client_line": "👤 Клиент: {client}",
        "phone_line": "📞 Телефон: +7 900 123-45-67", "waiting": "Клиент ждёт ответа.",
        "offer_buttons": ["✅ Принять чат", "📋 Подробности", "📞 Позвонить"], "details_button": "📋 Подробности",
        "details": "📋 Чат #{chat} — ⏳ ожидает менеджера", "history": "История:", "take": "✅ Принять чат",
        "yours": "✅ Чат #{chat} ваш.", "took": "✅ Вы приняли этот чат.",
        "card_buttons": {"💬 Ответить", "📋 Подробности", "📝 Шаблоны", "📞 Позвонить", "↪️ Передать",
                         "👥 Пригласить", "🔚 Завершить"},
        "reply_mode": "💬 Режим ответа: ваши сообщения уходят клиенту {client} (чат #{chat}).",
        "page_buttons": ["💬 Ответить", "🔚 Завершить"], "header": "💬 {client} · чат #{chat}",
        "relay_buttons": ["💬 Ответить", "📋 Подробности"], "close": "🔚 Завершить",
        "confirm": ("🔚 Завершить чат #{chat} · {client}?\n"
                    "Клиент увидит, что разговор окончен, и сможет оценить его."),
        "confirm_buttons": ["Да, завершить", "Отмена"], "closed": "🔚 Чат #{chat} завершён.",
        "done": "🔚 Чат #{chat} · {client} — завершён. Клиент уведомлён.",
    },
}


def _words(message: SentMessage) -> str:
    """Everything a manager reads on a message: its text and its buttons."""
    return "\n".join([message.text or "", *message.button_texts])


async def _work_one_chat(desk: Desk, user: FakeUser, language: str) -> None:
    """Through aiogram against the fake Bot API: go online, get the offer, open the details page, take the chat,
    get the visitor's next message, close the chat; every step in `language`'s words."""
    words = WORDS[language]

    def said(key: str, **values: object) -> str:
        return str(words[key]).format(client=words["client"], **values)

    assert words["online"] in await say(desk, user, "/online")
    visitor = await Visitor(desk.http, desk.base_url).start(locale=language)
    await visitor.send(said("question"))
    chat = int((await visitor.transfer(name=words["client"], phone="+7 900 123-45-67"))["support_chat_id"])

    offer = await offer_to(desk, user)
    for key in ("card", "client_line", "phone_line", "waiting"):
        assert said(key, chat=chat) in offer.text, (key, offer.text)
    assert offer.button_texts == words["offer_buttons"]

    await press(desk, user, offer.message_id, said("details_button"))
    details = await desk.fake.wait_for_message(user.id, lambda m: said("details", chat=chat) in (m.text or ""))
    assert said("history") in details.text and said("question") in details.text
    assert said("take") in details.button_texts

    answer = await press(desk, user, offer.message_id, said("take"))
    assert answer["text"] == said("yours", chat=chat)
    card = await desk.fake.wait_for_edit(user.id, offer.message_id, lambda m: said("took") in (m.text or ""))
    assert set(card.button_texts) == words["card_buttons"]
    reply_mode = await desk.fake.wait_for_message(user.id, lambda m: said("reply_mode", chat=chat) in (m.text or ""))
    assert "/cancel" in reply_mode.text
    # The details page loses its accept button for the taker's own buttons (edited outside any update).
    page = await desk.fake.wait_for_edit(user.id, details.message_id, lambda m: said("take") not in m.button_texts)
    assert page.button_texts == words["page_buttons"]

    await visitor.send(said("later"))
    relayed = await desk.fake.wait_for_message(user.id, lambda m: said("later") in (m.text or ""))
    assert relayed.text.startswith(said("header", chat=chat)) and relayed.button_texts == words["relay_buttons"]

    asked = await press(desk, user, card.message_id, said("close"))
    assert asked.get("show_alert") in (None, False)
    confirmation = await desk.fake.wait_for_message(user.id, lambda m: said("confirm", chat=chat) == m.text)
    assert confirmation.button_texts == words["confirm_buttons"]
    closed = await press(desk, user, confirmation.message_id, words["confirm_buttons"][0])
    assert closed["text"] == said("closed", chat=chat)
    done = await desk.fake.wait_for_edit(user.id, confirmation.message_id)
    assert done.text == said("done", chat=chat)


async def test_an_english_manager_works_a_chat_in_english_and_a_russian_one_in_russian(desk: Desk) -> None:
    await _work_one_chat(desk, ENGLISH, "en")
    assert "Shift ended" in await say(desk, ENGLISH, "/offline")
    # Not one Russian word of the desk's reached the English manager (the English visitor's AI answered in
    # English); the summary's «Topics:» names knowledge-base articles, which are content, written in Russian.
    lines = [line for m in desk.fake.messages(ENGLISH.id) for line in _words(m).splitlines()
             if not line.startswith("Topics: ")]
    assert [line for line in lines if CYRILLIC.search(line)] == []

    await _work_one_chat(desk, SECOND_MANAGER, "ru")
    assert all(CYRILLIC.search(_words(m)) for m in desk.fake.messages(SECOND_MANAGER.id))
