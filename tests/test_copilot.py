"""The AI co-pilot in the manager's Telegram, end to end: the real aiogram bot against the fake Bot API (every
call checked against the vendored spec), the real widget API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from models import ChatMessage, CopilotSuggestion, Manager, Sender, SuggestionStatus
from tests.clients import MANAGER, Visitor, accepted_chat, go_online, in_thread, is_type, press, take, topic_of
from tests.conftest import Desk, running_desk

QUESTION = "Какие документы нужны для подключения?"


async def _copilot_desk(database_url: str, **env: str) -> AsyncIterator[Desk]:
    async for desk in running_desk(database_url, SUPPORT_COPILOT="true", **env):
        desk.fake.inline_mode = True  # BotFather's /setinline: getMe then says supports_inline_queries
        yield desk


@pytest.fixture
async def copilot_desk(clean_database: str) -> AsyncIterator[Desk]:
    async for desk in _copilot_desk(clean_database):
        yield desk


@pytest.fixture
async def copilot_topic_desk(clean_database: str) -> AsyncIterator[Desk]:
    """The co-pilot with topic mode on: each chat a manager takes has its own topic in their chat with the bot."""
    async for desk in _copilot_desk(clean_database, SANDBOX_TOPICS="1"):
        yield desk


async def visitor_in_chat(desk: Desk) -> tuple[Visitor, int]:
    """A visitor who asked the AI one question, then was taken by MANAGER."""
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start(page_url="https://ilpo-taxi.ru/drivers")
    await visitor.send("Сколько вы берёте комиссию?")
    await visitor.wait_for(is_type("ai_message"))
    return visitor, await accepted_chat(desk, visitor)


async def suggestion_for(desk: Desk, visitor: Visitor, text: str) -> object:
    await visitor.send(text)
    return await desk.fake.wait_for_message(MANAGER.id, lambda m: "Подсказка ИИ" in (m.text or ""))


async def manager_messages(visitor: Visitor) -> list[dict[str, object]]:
    await visitor.poll()
    return [event for event in visitor.seen if event["type"] == "manager_message"]


async def test_brief_on_accept_then_a_draft_that_reaches_the_visitor_only_on_tap(copilot_desk: Desk) -> None:
    desk = copilot_desk
    visitor, chat_id = await visitor_in_chat(desk)
    brief = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Коротко о чате" in (m.text or ""))
    lines = brief.text.splitlines()
    assert lines[0] == f"🧭 Коротко о чате #{chat_id} · Пётр <Водитель>"
    assert "&lt;Водитель&gt;" in brief.raw_text
    assert lines[1] == "Посетитель спрашивает: «Сколько вы берёте комиссию?»"
    assert lines[-1].startswith("ИИ уже ответил: «") and "комисси" in lines[-1].lower()
    assert len(lines) == 4  # the header, then three lines

    suggestion = await suggestion_for(desk, visitor, QUESTION)
    assert suggestion.text.startswith(f"💡 Подсказка ИИ · Пётр <Водитель> · чат #{chat_id}")
    assert "паспорт" in suggestion.text.lower()
    assert suggestion.button_texts == ["✅ Отправить", "✏️ Изменить", "✖"]
    # Too long for an inline query (256): «Изменить» hands the text over to copy, with reply mode on.
    assert suggestion.buttons[1]["callback_data"].startswith("cop:edit:")
    # Streamed as a draft first (a «Thinking…» frame, then the text), ended by the final message.
    question = await ChatMessage.select().where(ChatMessage.text == QUESTION).aio_get()
    (draft,) = [d for d in desk.fake.drafts(MANAGER.id) if d.draft_id == question.id]
    assert draft.frames[0] == "" and "паспорт" in draft.frames[-1].lower()
    assert not draft.active

    await desk.service.copilot.drain()
    assert await manager_messages(visitor) == []  # nothing went to the visitor by itself
    assert await ChatMessage.select().where(ChatMessage.sender == Sender.MANAGER).aio_count() == 0

    await press(desk, MANAGER, suggestion.message_id, "✏️ Изменить")
    copy = await desk.fake.wait_for_message(MANAGER.id, lambda m: "скопировать" in (m.text or ""))
    assert "<pre>" in copy.raw_text and "паспорт" in copy.text and f"чат #{chat_id}" in copy.text
    assert await manager_messages(visitor) == []

    answer = await press(desk, MANAGER, suggestion.message_id, "✅ Отправить")
    assert answer["text"] == "✅ Отправлено клиенту"
    stored = await CopilotSuggestion.select().aio_get()
    sent = await visitor.wait_for(is_type("manager_message"))
    assert sent["text"] == stored.text and sent["author"] == {"name": "Анна Смирнова"}
    assert stored.status == SuggestionStatus.SENT
    edited = await desk.fake.wait_for_edit(MANAGER.id, suggestion.message_id)
    assert edited.text.startswith(f"✅ Отправлено клиенту · чат #{chat_id}") and edited.button_texts == []
    assert await ChatMessage.select().where(ChatMessage.sender == Sender.MANAGER).aio_count() == 1


async def test_dismiss_sends_nothing_and_edit_goes_through_inline_mode(copilot_desk: Desk) -> None:
    desk = copilot_desk
    visitor, chat_id = await visitor_in_chat(desk)
    dismissed = await suggestion_for(desk, visitor, QUESTION)
    answer = await press(desk, MANAGER, dismissed.message_id, "✖")
    assert answer["text"] == "Подсказка скрыта"
    edited = await desk.fake.wait_for_edit(MANAGER.id, dismissed.message_id)
    assert "скрыта" in edited.text and edited.button_texts == []
    row = await CopilotSuggestion.select().aio_get()
    assert row.status == SuggestionStatus.DISMISSED

    suggestion = await suggestion_for(desk, visitor, "Как часто выплаты?")
    query = suggestion.buttons[1]["switch_inline_query_current_chat"]
    assert query == f"#{chat_id} Выплаты ежедневно, в том числе в выходные."
    typed = query + " Ждём вас!"  # the manager adds a line in the input field
    query_id = await desk.fake.inline_query(MANAGER, typed)
    inline = await desk.fake.wait_inline_answer(query_id)
    assert inline["is_personal"] is True and inline["cache_time"] == 0
    first = inline["results"][0]
    assert first["id"] == "typed" and first["input_message_content"]["message_text"].endswith("Ждём вас!")
    await desk.fake.choose_inline_result(MANAGER, query_id, "typed")
    sent = await visitor.wait_for(is_type("manager_message"))
    assert sent["text"] == typed.split(" ", 1)[1].strip()
    assert await desk.fake.wait_for_message(MANAGER.id, lambda m: "Отправлено клиенту" in (m.text or ""))
    assert len(await manager_messages(visitor)) == 1  # the dismissed one never went


async def test_a_manager_switches_the_copilot_off_in_their_menu(copilot_desk: Desk) -> None:
    desk = copilot_desk
    await desk.fake.send_message(MANAGER, "/start")
    menu = await desk.fake.wait_for_message(MANAGER.id, lambda m: "рабочее место" in (m.text or ""))
    assert "💡 Подсказки ИИ: вкл" in menu.button_texts
    answer = await press(desk, MANAGER, menu.message_id, "💡 Подсказки ИИ: вкл")
    assert answer["text"] == "Подсказки ИИ выключены"
    edited = await desk.fake.wait_for_edit(MANAGER.id, menu.message_id)
    assert "💡 Подсказки ИИ: выкл" in edited.button_texts
    assert (await Manager.aio_get(Manager.telegram_id == MANAGER.id)).copilot_enabled is False

    visitor, chat_id = await visitor_in_chat(desk)
    await visitor.send(QUESTION)
    await desk.fake.wait_for_message(MANAGER.id, lambda m: f"чат #{chat_id}" in (m.text or "")
                                     and QUESTION in (m.text or ""))
    await desk.service.copilot.drain()
    texts = [m.text or "" for m in desk.fake.messages(MANAGER.id)]
    assert not any("Коротко о чате" in t or "Подсказка ИИ" in t for t in texts)
    assert desk.fake.drafts(MANAGER.id) == []
    assert await CopilotSuggestion.select().aio_count() == 0


async def test_the_desk_switch_turns_it_off_for_everyone(desk: Desk) -> None:
    await desk.fake.send_message(MANAGER, "/start")
    menu = await desk.fake.wait_for_message(MANAGER.id, lambda m: "рабочее место" in (m.text or ""))
    assert not any("Подсказки" in text for text in menu.button_texts)
    visitor, _ = await visitor_in_chat(desk)
    await visitor.send(QUESTION)
    await desk.fake.wait_for_message(MANAGER.id, lambda m: QUESTION in (m.text or ""))
    await desk.service.copilot.drain()
    await asyncio.sleep(0.1)
    texts = [m.text or "" for m in desk.fake.messages(MANAGER.id)]
    assert not any("Коротко о чате" in t or "Подсказка ИИ" in t for t in texts)
    assert await CopilotSuggestion.select().aio_count() == 0


async def test_in_topic_mode_the_copilot_works_in_each_chats_topic(copilot_topic_desk: Desk) -> None:
    desk = copilot_topic_desk
    await go_online(desk, MANAGER)
    alice = await Visitor(desk.http, desk.base_url).start()
    ivan = await Visitor(desk.http, desk.base_url).start()
    for visitor in (alice, ivan):
        await visitor.send("Сколько вы берёте комиссию?")
        await visitor.wait_for(is_type("ai_message"))
    chat_a = await take(desk, alice, "Алиса")
    chat_b = await take(desk, ivan, "Иван")
    thread_a, thread_b = await topic_of(desk, MANAGER, "Алиса"), await topic_of(desk, MANAGER, "Иван")

    # The brief comes into the chat's topic, after its card.
    brief = await in_thread(desk, MANAGER, thread_a, f"Коротко о чате #{chat_a}")
    assert brief.message_id > desk.fake.thread(MANAGER.id, thread_a)[0].message_id
    await in_thread(desk, MANAGER, thread_b, f"Коротко о чате #{chat_b}")

    # Both visitors ask at once: each draft streams in its own topic, each suggestion lands there too.
    await asyncio.gather(alice.send(QUESTION), ivan.send("Как часто выплаты?"))
    suggestion_a = await in_thread(desk, MANAGER, thread_a, "Подсказка ИИ")
    suggestion_b = await in_thread(desk, MANAGER, thread_b, "Подсказка ИИ")
    assert f"чат #{chat_a}" in suggestion_a.text and f"чат #{chat_b}" in suggestion_b.text
    question_a = await ChatMessage.select().where(ChatMessage.text == QUESTION).aio_get()
    (draft_a,) = [d for d in desk.fake.drafts(MANAGER.id) if d.draft_id == question_a.id]
    assert draft_a.thread_id == thread_a and "паспорт" in draft_a.frames[-1].lower()
    general = [m.text or "" for m in desk.fake.thread(MANAGER.id, None)]
    assert not any("Подсказка ИИ" in t or "Коротко о чате" in t for t in general)
    assert all(d.thread_id in (thread_a, thread_b) for d in desk.fake.drafts(MANAGER.id))

    # «✅ Отправить» in Ivan's topic reaches Ivan, and only him.
    answer = await press(desk, MANAGER, suggestion_b.message_id, "✅ Отправить")
    assert answer["text"] == "✅ Отправлено клиенту"
    sent = await ivan.wait_for(is_type("manager_message"))
    assert "ежедневно" in sent["text"]
    await desk.service.copilot.drain()
    assert await manager_messages(alice) == []
    stored = await ChatMessage.select().where(ChatMessage.sender == Sender.MANAGER).aio_execute()
    assert [(m.support_chat_id, m.text) for m in stored] == [(chat_b, sent["text"])]

    # «✏️ Изменить» through inline mode, chosen in Alice's topic: the topic decides, whatever chat the query
    # named (here, on purpose, Ivan's).
    query_id = await desk.fake.inline_query(MANAGER, f"#{chat_b} Пришлите права и паспорт")
    await desk.fake.wait_inline_answer(query_id)
    await desk.fake.choose_inline_result(MANAGER, query_id, "typed", thread_id=thread_a)
    to_alice = await alice.wait_for(is_type("manager_message"))
    assert to_alice["text"] == "Пришлите права и паспорт"
    await in_thread(desk, MANAGER, thread_a, f"Отправлено клиенту (чат #{chat_a})")
    assert len(await manager_messages(ivan)) == 1  # nothing more for Ivan
    assert await ChatMessage.select().where(
        (ChatMessage.sender == Sender.MANAGER) & (ChatMessage.support_chat == chat_b)).aio_count() == 1


async def test_lines_written_in_a_row_get_one_draft_for_the_latest(copilot_desk: Desk) -> None:
    """A visitor who writes several lines before the co-pilot starts wants one answer: a draft for the last line,
    none for the ones it already followed (a busy manager would otherwise get a draft per line of every client)."""
    desk = copilot_desk
    visitor, _ = await visitor_in_chat(desk)
    await visitor.send("Здравствуйте")
    await visitor.send("Хочу работать водителем")
    await visitor.send(QUESTION)
    suggestion = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Подсказка ИИ" in (m.text or ""))
    assert "паспорт" in suggestion.text.lower()
    await desk.service.copilot.drain()
    latest = await ChatMessage.select().where(ChatMessage.text == QUESTION).aio_get()
    assert [draft.draft_id for draft in desk.fake.drafts(MANAGER.id)] == [latest.id]
    assert desk.service.copilot._newest == {}  # nothing kept once the latest line had its draft


async def test_no_suggestion_for_a_question_the_manager_answered_meanwhile(
        copilot_desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = copilot_desk
    visitor, chat_id = await visitor_in_chat(desk)
    copilot = desk.service.copilot
    monkeypatch.setattr(copilot, "visitor_wrote", lambda chat, message: None)  # drafted by hand below
    await visitor.send(QUESTION)
    question = await ChatMessage.select().where(ChatMessage.text == QUESTION).aio_get()
    anna = await Manager.aio_get(Manager.telegram_id == MANAGER.id)
    await desk.service.relay.manager_reply(anna, chat_id, "Паспорт и права, подробнее расскажу")
    assert await copilot.suggest(chat_id, question) is None
    assert not any("Подсказка ИИ" in (m.text or "") for m in desk.fake.messages(MANAGER.id))
    # Asked again after the answer, the co-pilot suggests as before.
    await visitor.send("А " + QUESTION.lower())
    again = await ChatMessage.select().where(ChatMessage.text == "А " + QUESTION.lower()).aio_get()
    assert await copilot.suggest(chat_id, again) is not None
