"""A topic per conversation in the manager's private chat (Bot API 10.1), edits and typing.

The real aiogram bot talks HTTP to the fake Bot API with topics on (SANDBOX_TOPICS=1); every call is checked
against the vendored api.json (the desk fixtures assert no violations)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models import ChatMessage, ChatTopic, Outbox, OutboxStatus, TopicState
from sandbox.model import SentMessage
from support.topics import TopicView
from tests.clients import (
    ADMIN,
    MANAGER,
    SECOND_MANAGER,
    Visitor,
    close_chat,
    go_online,
    in_thread,
    offer_to,
    press,
    take,
    topic_of,
)
from tests.conftest import Desk, eventually, running_desk


@pytest.fixture
async def topic_desk(clean_database: str) -> AsyncIterator[Desk]:
    async for desk in running_desk(clean_database, SANDBOX_TOPICS="1", TOPIC_DELETE_AFTER_DAYS="3"):
        yield desk


def name_of(desk: Desk, user: Any, thread_id: int) -> str:
    topic = desk.fake.topic(user.id, thread_id)
    assert topic is not None
    return str(topic.name)


async def card_in(desk: Desk, user: Any, thread_id: int) -> SentMessage:
    card = await in_thread(desk, user, thread_id, "Чат поддержки")
    assert desk.fake.thread(user.id, thread_id)[0] == card  # it opens the topic
    return card


async def test_accept_opens_a_topic_per_chat_and_messages_route_by_thread_both_ways(topic_desk: Desk) -> None:
    desk = topic_desk
    await go_online(desk, MANAGER)
    anna_visitor = await Visitor(desk.http, desk.base_url).start()
    ivan_visitor = await Visitor(desk.http, desk.base_url).start()
    chat_a = await take(desk, anna_visitor, "Алиса")
    chat_b = await take(desk, ivan_visitor, "Иван")
    thread_a = await topic_of(desk, MANAGER, "Алиса")
    thread_b = await topic_of(desk, MANAGER, "Иван")
    assert thread_a != thread_b
    assert name_of(desk, MANAGER, thread_a) == "⏳ Алиса"
    # The card opens the topic: the client, the phone, the buttons.
    card = await card_in(desk, MANAGER, thread_a)
    assert f"Чат поддержки #{chat_a}" in card.text and "+7 900 000-00-00" in card.text
    assert "🔚 Завершить" in card.button_texts

    # Two visitors write at once: each message lands in its own topic.
    await asyncio.gather(anna_visitor.send("Вопрос от Алисы"), ivan_visitor.send("Вопрос от Ивана"))
    await in_thread(desk, MANAGER, thread_a, "Вопрос от Алисы")
    await in_thread(desk, MANAGER, thread_b, "Вопрос от Ивана")
    assert not [m for m in desk.fake.thread(MANAGER.id, thread_a) if "Ивана" in (m.text or "")]

    # Whatever the manager writes in a topic goes to that topic's visitor: no reply mode, no quoting.
    await desk.fake.send_message(MANAGER, "Ответ Ивану", thread_id=thread_b)
    await desk.fake.send_message(MANAGER, "Ответ Алисе", thread_id=thread_a)
    got_b = await ivan_visitor.wait_for(lambda e: e["type"] == "manager_message")
    got_a = await anna_visitor.wait_for(lambda e: e["type"] == "manager_message")
    assert (got_a["text"], got_b["text"]) == ("Ответ Алисе", "Ответ Ивану")
    stored = await ChatMessage.select().where(ChatMessage.sender == "manager").order_by(ChatMessage.id).aio_execute()
    assert {(m.support_chat_id, m.text) for m in stored} == {(chat_a, "Ответ Алисе"), (chat_b, "Ответ Ивану")}
    await eventually(lambda: name_of(desk, MANAGER, thread_a) == "💬 Алиса")

    # Closing from the card: the topic is renamed "✅ …", the card edited in place, deletion scheduled.
    await close_chat(desk, MANAGER, card.message_id)
    await eventually(lambda: name_of(desk, MANAGER, thread_a) == "✅ Алиса")
    await eventually(lambda: "🔚 закрыт" in (desk.fake.message(MANAGER.id, card.message_id).text or ""))
    edited = desk.fake.message(MANAGER.id, card.message_id)
    assert edited.edit_date is not None and not edited.button_texts
    async with desk.http.post(f"{desk.base_url}/api/chat/rate", headers=anna_visitor.auth, json={
            "session_id": anna_visitor.session_id, "support_chat_id": chat_a, "rating": 5}) as response:
        assert response.status == 200, await response.text()
    await eventually(lambda: "Оценка клиента: 5/5" in (desk.fake.message(MANAGER.id, card.message_id).text or ""))
    topic = await ChatTopic.aio_get(ChatTopic.support_chat == chat_a)
    assert topic.state == TopicState.CLOSED and topic.delete_after is not None
    assert name_of(desk, MANAGER, thread_b) == "💬 Иван"  # the other chat is untouched

    # Three days on, the job deletes the closed topic.
    await ChatTopic.update(delete_after=topic.created_at).where(ChatTopic.id == topic.id).aio_execute()
    assert await desk.service.topics.delete_due() == 1
    desk.service.store.outbox_worker.wake()
    await eventually(lambda: desk.fake.topic(MANAGER.id, thread_a).deleted)
    assert desk.fake.topic(MANAGER.id, thread_b).deleted is False


async def test_transfer_opens_a_topic_for_the_colleague(topic_desk: Desk) -> None:
    desk = topic_desk
    await go_online(desk, MANAGER)
    await go_online(desk, SECOND_MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await take(desk, visitor, "Пётр")
    thread = await topic_of(desk, MANAGER, "Пётр")
    card = await card_in(desk, MANAGER, thread)
    await press(desk, MANAGER, card.message_id, "↪️ Передать")
    choice = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Кому передать" in (m.text or ""))
    await press(desk, MANAGER, choice.message_id, "Борис — чатов: 0")
    note = await desk.fake.wait_for_message(MANAGER.id, lambda m: "➡️ Передать без заметки" in m.button_texts)
    await press(desk, MANAGER, note.message_id, "➡️ Передать без заметки")

    boris_thread = await topic_of(desk, SECOND_MANAGER, "Пётр")
    assert "Борис" in (await card_in(desk, SECOND_MANAGER, boris_thread)).text
    await eventually(lambda: name_of(desk, MANAGER, thread) == "↪️ Пётр")
    await eventually(lambda: "Чат передан: Борис" in (desk.fake.message(MANAGER.id, card.message_id).text or ""))

    await visitor.send("Для Бориса")
    await in_thread(desk, SECOND_MANAGER, boris_thread, "Для Бориса")
    await desk.fake.send_message(SECOND_MANAGER, "Борис на связи", thread_id=boris_thread)
    reply = await visitor.wait_for(lambda e: e["type"] == "manager_message")
    assert reply["text"] == "Борис на связи" and reply["author"]["name"] == "Борис"
    await asyncio.sleep(0.2)
    assert not [m for m in desk.fake.messages(MANAGER.id) if "Для Бориса" in (m.text or "")]
    assert (await ChatTopic.select().where(ChatTopic.support_chat == chat_id).aio_count()) == 2


async def test_a_deleted_topic_loses_no_message(topic_desk: Desk) -> None:
    desk = topic_desk
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await take(desk, visitor, "Ольга")
    thread = await topic_of(desk, MANAGER, "Ольга")
    await in_thread(desk, MANAGER, thread, "Чат поддержки")

    # The manager deletes the topic: a new one is made and the message lands there.
    await desk.fake.delete_topic(MANAGER, thread)
    await visitor.send("После удаления темы")
    fresh = await topic_of(desk, MANAGER, "Ольга")
    assert fresh != thread
    await in_thread(desk, MANAGER, fresh, "После удаления темы")
    await in_thread(desk, MANAGER, fresh, "Прежняя тема")

    # Topics switched off in the manager's chat: the general thread, told once, nothing lost.
    desk.fake.set_topics_enabled(MANAGER, False)
    try:
        await visitor.send("Без тем первое")
        await visitor.send("Без тем второе")
        first = await in_thread(desk, MANAGER, None, "Без тем первое")
        await in_thread(desk, MANAGER, None, "Без тем второе")
        await in_thread(desk, MANAGER, None, "недоступна")  # queued behind the message it is about
        warnings = [m for m in desk.fake.thread(MANAGER.id, None) if "недоступна" in (m.text or "")]
        assert len(warnings) == 1
        # Answering in the general thread works as without topics (reply by quote).
        await desk.fake.send_message(MANAGER, "Отвечаю в общем чате", reply_to_message_id=first.message_id)
        answer = await visitor.wait_for(lambda e: e["type"] == "manager_message")
        assert answer["text"] == "Отвечаю в общем чате"
        texts = [m.text for m in await ChatMessage.select().where(ChatMessage.sender == "user").aio_execute()]
        assert {"После удаления темы", "Без тем первое", "Без тем второе"} <= set(texts)
        assert not await Outbox.select().where(
            (Outbox.purpose == "relay") & (Outbox.status != OutboxStatus.SENT)).aio_exists()
    finally:
        desk.fake.set_topics_enabled(MANAGER, None)  # the FakeUser is shared by the module's tests


async def test_flat_mode_unchanged_when_topics_are_off(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await visitor.transfer(name="Пётр")
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    await visitor.send("Плоский режим")
    relayed = await in_thread(desk, MANAGER, None, "Плоский режим")
    assert "💬 Ответить" in relayed.button_texts
    assert desk.fake.topics(MANAGER.id) == []
    assert not [c for c in desk.fake.calls if c.method in ("createForumTopic", "editForumTopic", "sendChatAction")]
    assert await ChatTopic.select().aio_count() == 0


async def test_a_managers_edit_reaches_the_widget(topic_desk: Desk) -> None:
    desk = topic_desk
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await take(desk, visitor, "Вера")
    thread = await topic_of(desk, MANAGER, "Вера")
    await card_in(desk, MANAGER, thread)
    sent = await desk.fake.send_message(MANAGER, "Стоимость 100 руб", thread_id=thread)
    original = await visitor.wait_for(lambda e: e["type"] == "manager_message")
    await desk.fake.edit_message(MANAGER, sent["message_id"], "Стоимость 150 руб")
    edit = await visitor.wait_for(lambda e: e["type"] == "message_edited")
    assert edit["message_id"] == original["id"] and edit["text"] == "Стоимость 150 руб"
    # A widget that loads the history afresh gets the edited text, marked as edited.
    rewritten = next(e for e in await visitor.poll(after=0) if e["id"] == original["id"])
    assert rewritten["text"] == "Стоимость 150 руб" and rewritten["edited"] is True


async def test_visitor_typing_shows_in_the_topic_throttled(topic_desk: Desk) -> None:
    desk = topic_desk
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await take(desk, visitor, "Глеб")
    thread = await topic_of(desk, MANAGER, "Глеб")
    await card_in(desk, MANAGER, thread)
    async with desk.http.ws_connect(await visitor.ws_url()) as ws:
        for _ in range(5):
            await ws.send_str(json.dumps({"type": "typing"}))
        await ws.send_str(json.dumps({"type": "ping"}))
        async with asyncio.timeout(5):
            while json.loads((await ws.receive()).data).get("type") != "pong":
                pass
    actions = desk.fake.chat_actions(MANAGER.id, thread)
    assert [a.action for a in actions] == ["typing"]
    assert desk.fake.chat_actions(MANAGER.id) == []  # the general thread shows nothing
    desk.service.topics.typing_interval = 0  # as if four seconds had passed
    async with desk.http.ws_connect(await visitor.ws_url()) as ws:
        await ws.send_str(json.dumps({"type": "typing"}))
        await eventually(lambda: len(desk.fake.chat_actions(MANAGER.id, thread)) == 2)


async def test_saved_replies_from_a_topics_card_reach_that_topics_visitor(topic_desk: Desk) -> None:
    desk = topic_desk
    greeting = await desk.service.templates.add(ADMIN.id, "Приветствие", "Здравствуйте, {name}! Это {manager}.")
    await go_online(desk, MANAGER)
    alice = await Visitor(desk.http, desk.base_url).start()
    ivan = await Visitor(desk.http, desk.base_url).start()
    chat_a = await take(desk, alice, "Алиса")
    await take(desk, ivan, "Иван")
    thread_a = await topic_of(desk, MANAGER, "Алиса")
    await topic_of(desk, MANAGER, "Иван")
    card = await card_in(desk, MANAGER, thread_a)
    assert "📝 Шаблоны" in card.button_texts

    # The list opens in the topic, filled for its client; a tap sends the template to that client only.
    await press(desk, MANAGER, card.message_id, "📝 Шаблоны")
    listing = await in_thread(desk, MANAGER, thread_a, f"Шаблоны для чата #{chat_a}")
    assert "Здравствуйте, Алиса! Это Анна Смирнова." in listing.text
    answer = await press(desk, MANAGER, listing.message_id, "1. Приветствие")
    assert answer["text"] == "✅ Шаблон отправлен клиенту"
    sent = await alice.wait_for(lambda e: e["type"] == "manager_message")
    assert sent["text"] == "Здравствуйте, Алиса! Это Анна Смирнова."
    await in_thread(desk, MANAGER, thread_a, f"Отправлено клиенту (чат #{chat_a})")
    stored = await ChatMessage.select().where(ChatMessage.sender == "manager").aio_execute()
    assert [(m.support_chat_id, m.text) for m in stored] == [(chat_a, sent["text"])]
    assert not [e for e in await ivan.poll(after=0) if e["type"] == "manager_message"]

    # The admin deletes it meanwhile: its button gets a clear answer, not "something went wrong".
    await desk.service.templates.delete(ADMIN.id, greeting.id)
    answer = await press(desk, MANAGER, listing.message_id, "1. Приветствие")
    assert answer["show_alert"] is True and "Этого шаблона уже нет" in answer["text"]
    assert await ChatMessage.select().where(ChatMessage.sender == "manager").aio_count() == 1


async def test_the_topic_takes_the_visitors_name_when_they_give_it_later(topic_desk: Desk) -> None:
    desk = topic_desk
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = int((await visitor.transfer())["support_chat_id"])  # no name yet
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    thread = await topic_of(desk, MANAGER, f"Гость #{chat_id}")
    card = await card_in(desk, MANAGER, thread)
    await desk.fake.send_message(MANAGER, "Как к вам обращаться?", thread_id=thread)
    await visitor.wait_for(lambda e: e["type"] == "manager_message")
    await eventually(lambda: name_of(desk, MANAGER, thread) == f"💬 Гость #{chat_id}")

    # The request form again, now with a name: the topic and its card say it, the status marker stays.
    await visitor.transfer(name="Зоя", phone="+7 900 555-44-33")
    await eventually(lambda: name_of(desk, MANAGER, thread) == "💬 Зоя")
    await eventually(lambda: "Зоя" in (desk.fake.message(MANAGER.id, card.message_id).text or ""))
    assert "🔚 Завершить" in desk.fake.message(MANAGER.id, card.message_id).button_texts

    # The site identifies the visitor with a fuller name (unverified: no secret configured): the same.
    async with desk.http.post(f"{desk.base_url}/api/chat/identify", headers=visitor.auth, json={
            "session_id": visitor.session_id, "id": "crm-7", "name": "Зоя Петрова"}) as response:
        assert response.status == 200, await response.text()
    await eventually(lambda: name_of(desk, MANAGER, thread) == "💬 Зоя Петрова")
    await eventually(lambda: "Зоя Петрова" in (desk.fake.message(MANAGER.id, card.message_id).text or ""))


async def test_after_a_topic_is_made_again_card_edits_go_to_the_new_card(
    topic_desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    desk = topic_desk
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await take(desk, visitor, "Ольга")
    thread = await topic_of(desk, MANAGER, "Ольга")
    await card_in(desk, MANAGER, thread)
    topic = await ChatTopic.aio_get(ChatTopic.support_chat == chat_id)
    old_card = topic.card_id

    await desk.fake.delete_topic(MANAGER, thread)
    await visitor.send("После удаления темы")
    fresh = await topic_of(desk, MANAGER, "Ольга")
    new_card = await in_thread(desk, MANAGER, fresh, "Чат поддержки")
    await in_thread(desk, MANAGER, fresh, "После удаления темы")

    # An edit of the card queued before the topic was made again (a rating, a colleague joining) still names the
    # old card, which went with the old topic: it edits the current card instead, and nothing is logged as failed.
    chat = await desk.service.store.chat(chat_id)
    card = await desk.service.store.card(chat)
    channel = desk.service.topics.channel
    assert channel is not None
    with caplog.at_level(logging.ERROR):
        async with desk.service.store.change() as change:
            (row,) = await change.send([dataclasses.replace(
                channel.card_update(card, MANAGER.id, old_card, TopicView(owner=True, rating=4)), topic_id=topic.id)])
        await eventually(lambda: "Оценка клиента: 4/5" in (desk.fake.message(MANAGER.id, new_card.message_id).text
                                                          or ""))

        # The worker marks the row sent once Telegram has answered, a moment after the edit shows.
        async def row_sent() -> bool:
            return (await Outbox.aio_get(Outbox.id == row.id)).status == OutboxStatus.SENT

        await eventually(row_sent)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

    # Closing now renames the new topic and edits the new card; the old one is gone with its topic.
    await desk.service.lifecycle.close_from_outside(chat_id, by="test")
    await eventually(lambda: name_of(desk, MANAGER, fresh) == "✅ Ольга")
    await eventually(lambda: "🔚 закрыт" in (desk.fake.message(MANAGER.id, new_card.message_id).text or ""))
    assert not await Outbox.select().where(Outbox.status == OutboxStatus.FAILED).aio_exists()


async def test_writing_in_a_topic_before_its_thread_id_is_stored(topic_desk: Desk) -> None:
    desk = topic_desk
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await take(desk, visitor, "Нина")
    thread = await topic_of(desk, MANAGER, "Нина")
    await card_in(desk, MANAGER, thread)
    # The instant between Telegram making the topic and the outbox storing its thread id, held open on purpose.
    await ChatTopic.update(state=TopicState.CREATING, thread_id=None).where(
        ChatTopic.support_chat == chat_id).aio_execute()
    await desk.fake.send_message(MANAGER, "Сразу в новую тему", thread_id=thread)
    await asyncio.sleep(0.5)
    await ChatTopic.update(state=TopicState.OPEN, thread_id=thread).where(
        ChatTopic.support_chat == chat_id).aio_execute()
    got = await visitor.wait_for(lambda e: e["type"] == "manager_message", timeout=10)  # the wait is on purpose
    assert got["text"] == "Сразу в новую тему"
    assert not [m for m in desk.fake.messages(MANAGER.id) if "не связана с чатом" in (m.text or "")]
