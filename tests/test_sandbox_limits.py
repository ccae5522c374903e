"""Telegram's flood limits in the fake, opt-in: 429 with retry_after exactly as Telegram answers, and counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from sandbox import FakeBotAPI, FakeUser
from sandbox.limits import FloodLimits
from tests.fake_telegram import running_bot, running_fake

USERS = [FakeUser(id=7100 + i, first_name=f"Менеджер {i}") for i in range(4)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async for api in running_fake(*USERS, flood_limits=True):
        yield api


async def test_a_chat_takes_a_burst_of_three_then_429(fake: FakeBotAPI, bot: Bot) -> None:
    for n in range(3):
        await bot.send_message(USERS[0].id, f"сообщение {n}")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USERS[0].id, "четвёртое")
    assert info.value.retry_after == 1
    assert fake.calls_of("sendMessage")[-1].error == "Too Many Requests: retry after 1"
    # Other chats are not affected, and typing does not count.
    await bot.send_message(USERS[1].id, "другой чат")
    await bot.send_chat_action(USERS[0].id, "typing")
    assert [(h.scope, h.chat_id, h.retry_after) for h in fake.flood.hits] == [("chat", USERS[0].id, 1)]
    assert [m.text for m in fake.messages(USERS[0].id)] == ["сообщение 0", "сообщение 1", "сообщение 2"]


async def test_the_bot_limit_spans_chats(fake: FakeBotAPI, bot: Bot) -> None:
    fake.flood.enable(FloodLimits(per_bot_rate=2.0, per_bot_burst=4))
    for user in USERS:
        await bot.send_message(user.id, "всем")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USERS[0].id, "ещё")
    assert info.value.retry_after == 1
    assert [h.scope for h in fake.flood.hits] == ["bot"]


async def test_injected_429_is_counted_and_limits_can_be_switched_off(fake: FakeBotAPI, bot: Bot) -> None:
    fake.inject_fault("sendMessage", "429", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(USERS[0].id, "x")
    assert info.value.retry_after == 3
    fake.flood.disable()
    for n in range(5):
        await bot.send_message(USERS[0].id, f"{n}")
    assert [(h.scope, h.retry_after) for h in fake.flood.hits] == [("fault", 3)]


async def test_limits_are_off_by_default() -> None:
    async for api in running_fake(USERS[0]):
        async for bot in running_bot(api):
            for n in range(10):
                await bot.send_message(USERS[0].id, f"{n}")
        assert api.flood.hits == []
