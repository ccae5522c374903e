"""Private-chat topics (Bot API 10.1), drafts, typing, inline mode and edited messages in the fake.

The real aiogram Bot talks HTTP to the fake, so every call is checked against the vendored api.json.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    ChosenInlineResult,
    InlineQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
)

from sandbox import FakeBotAPI, FakeUser
from tests.fake_telegram import running_fake

MANAGER = FakeUser(id=7201, first_name="Анна")
OTHER = FakeUser(id=7202, first_name="Борис", has_topics_enabled=False)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async for api in running_fake(MANAGER, OTHER, topics_enabled=True, inline_mode=True):
        yield api


async def test_get_me_reports_topic_and_inline_mode(fake: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.has_topics_enabled is True
    assert me.supports_inline_queries is True
    fake.topics_enabled = False
    assert (await bot.get_me()).has_topics_enabled is False
    assert fake.violations == []


async def test_topic_lifecycle_and_messages_in_it(fake: FakeBotAPI, bot: Bot) -> None:
    topic = await bot.create_forum_topic(MANAGER.id, "Гость #1 · ожидает")
    first = await bot.send_message(MANAGER.id, "Карточка", message_thread_id=topic.message_thread_id)
    assert first.message_thread_id == topic.message_thread_id
    assert first.is_topic_message is True
    general = await bot.send_message(MANAGER.id, "Вне темы")
    assert general.message_thread_id is None

    await bot.edit_forum_topic(MANAGER.id, topic.message_thread_id, name="Гость #1 · активен")
    assert fake.topic(MANAGER.id, topic.message_thread_id).name == "Гость #1 · активен"
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.edit_forum_topic(MANAGER.id, topic.message_thread_id, name="Гость #1 · активен")

    incoming = await fake.send_message(MANAGER, "ответ посетителю", thread_id=topic.message_thread_id)
    assert incoming["message_thread_id"] == topic.message_thread_id
    assert incoming["is_topic_message"] is True
    assert [m.content for m in fake.thread(MANAGER.id, topic.message_thread_id)] == ["Карточка", "ответ посетителю"]

    await bot.delete_forum_topic(MANAGER.id, topic.message_thread_id)
    assert fake.topics(MANAGER.id) == []
    assert fake.thread(MANAGER.id, topic.message_thread_id) == []
    assert [m.text for m in fake.messages(MANAGER.id)] == ["Вне темы"]
    assert fake.violations == []


async def test_deleted_topic_and_topics_off_answer_telegrams_errors(fake: FakeBotAPI, bot: Bot) -> None:
    topic = await bot.create_forum_topic(MANAGER.id, "Гость #2")
    await fake.delete_topic(MANAGER, topic.message_thread_id)
    with pytest.raises(TelegramBadRequest) as sent:
        await bot.send_message(MANAGER.id, "потеряется?", message_thread_id=topic.message_thread_id)
    assert sent.value.message == "Bad Request: message thread not found"
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_chat_action(MANAGER.id, "typing", message_thread_id=topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="TOPIC_ID_INVALID"):
        await bot.edit_forum_topic(MANAGER.id, topic.message_thread_id, name="✅ Гость #2")

    with pytest.raises(TelegramBadRequest) as created:
        await bot.create_forum_topic(OTHER.id, "Гость #3")
    assert created.value.message == "Bad Request: the chat is not a forum"

    live = await bot.create_forum_topic(MANAGER.id, "Гость #4")
    fake.set_topics_enabled(MANAGER, False)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(MANAGER.id, "x", message_thread_id=live.message_thread_id)
    fake.set_topics_enabled(MANAGER, None)
    await bot.send_message(MANAGER.id, "снова можно", message_thread_id=live.message_thread_id)
    with pytest.raises(LookupError):
        await fake.send_message(OTHER, "в тему", thread_id=live.message_thread_id)


async def test_drafts_stream_and_the_final_message_ends_them(fake: FakeBotAPI, bot: Bot) -> None:
    topic = await bot.create_forum_topic(MANAGER.id, "Гость #5")
    thread = topic.message_thread_id
    await bot.send_message_draft(MANAGER.id, draft_id=7, text="", message_thread_id=thread)
    await bot.send_message_draft(MANAGER.id, draft_id=7, text="Здравствуйте", message_thread_id=thread)
    await bot.send_message_draft(MANAGER.id, draft_id=7, text="Здравствуйте, <b>Иван</b>", message_thread_id=thread)
    (draft,) = fake.drafts(MANAGER.id)
    assert draft.frames == ["", "Здравствуйте", "Здравствуйте, Иван"]
    assert draft.active and draft.thread_id == thread
    assert fake.messages(MANAGER.id) == []
    await bot.send_message(MANAGER.id, "Здравствуйте, <b>Иван</b>", message_thread_id=thread)
    assert not draft.active
    with pytest.raises(TelegramBadRequest, match="DRAFT_ID_INVALID"):
        await bot.send_message_draft(MANAGER.id, draft_id=0, text="x")


async def test_typing_is_recorded_per_thread(fake: FakeBotAPI, bot: Bot) -> None:
    topic = await bot.create_forum_topic(MANAGER.id, "Гость #6")
    await bot.send_chat_action(MANAGER.id, "typing", message_thread_id=topic.message_thread_id)
    await bot.send_chat_action(MANAGER.id, "upload_document")
    assert [a.action for a in fake.chat_actions(MANAGER.id, topic.message_thread_id)] == ["typing"]
    assert [a.action for a in fake.chat_actions(MANAGER.id)] == ["upload_document"]
    assert len(fake.chat_actions(MANAGER.id, any_thread=True)) == 2


def _router(seen: list[str]) -> Router:
    router = Router()

    @router.inline_query()
    async def templates(query: InlineQuery) -> None:
        found = [t for t in ("Добрый день!", "Спасибо, что ждёте") if query.query.lower() in t.lower()]
        results = [
            InlineQueryResultArticle(
                id=f"t{n}", title=text, input_message_content=InputTextMessageContent(message_text=text)
            )
            for n, text in enumerate(found)
        ]
        await query.answer(results, is_personal=True, cache_time=0)

    @router.chosen_inline_result()
    async def chosen(result: ChosenInlineResult) -> None:
        seen.append(f"chosen:{result.result_id}")

    @router.edited_message(F.text)
    async def edited(message: Message) -> None:
        seen.append(f"edited:{message.message_id}:{message.text}")

    @router.message(F.via_bot)
    async def via(message: Message) -> None:
        seen.append(f"via:{message.text}:{message.message_thread_id}")

    return router


async def test_inline_query_choice_and_edits_reach_the_bot(fake: FakeBotAPI, bot: Bot) -> None:
    seen: list[str] = []
    dp = Dispatcher()
    dp.include_router(_router(seen))
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1))
    try:
        topic = await bot.create_forum_topic(MANAGER.id, "Гость #7")
        query_id = await fake.inline_query(MANAGER, "спасибо")
        answer = await fake.wait_inline_answer(query_id)
        assert answer["is_personal"] is True
        assert [r["id"] for r in answer["results"]] == ["t0"]
        sent = await fake.choose_inline_result(MANAGER, query_id, "t0", thread_id=topic.message_thread_id)
        assert sent["via_bot"]["id"] == fake.bot_id
        typed = await fake.send_message(MANAGER, "опечтка")
        await fake.edit_message(MANAGER, typed["message_id"], "опечатка")
        expected = [
            f"via:Спасибо, что ждёте:{topic.message_thread_id}",
            "chosen:t0",
            f"edited:{typed['message_id']}:опечатка",
        ]
        for _ in range(100):
            if len(seen) >= len(expected):
                break
            await asyncio.sleep(0.05)
        assert sorted(seen) == sorted(expected)  # polling handles updates as concurrent tasks
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(task, 5)
    assert fake.message(MANAGER.id, typed["message_id"]).edited is True
    assert fake.violations == []
