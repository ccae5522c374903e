"""Test-side helpers for tests of the fake Bot API itself: a fake on its own port and a real aiogram Bot on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sandbox import FakeBotAPI, FakeUser

TOKEN = "123456789:AAFakeTokenForTests-abcdefghijklmnopq"


class LocalSession(AiohttpSession):
    """The real aiogram session, minus the 250 ms TLS-shutdown grace sleep in close() (plain HTTP on loopback)."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


async def start_fake(**options: Any) -> FakeBotAPI:
    fake = FakeBotAPI(TOKEN, webhook_retry_delay=0.05, **options)
    await fake.start()
    return fake


def bot_for(fake: FakeBotAPI) -> Bot:
    """The real aiogram Bot talking HTTP to ``fake``, HTML by default as the product's bot."""
    assert fake.base_url is not None, "start the fake first"
    session = LocalSession(api=TelegramAPIServer.from_base(fake.base_url), timeout=5)
    return Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))


async def running_fake(*users: FakeUser, **options: Any) -> AsyncIterator[FakeBotAPI]:
    """A started fake that knows ``users``, for a module's own ``fake`` fixture (``async for api in ...``)."""
    api = await start_fake(**options)
    for user in users:
        api.register_user(user)
    try:
        yield api
    finally:
        await api.stop()


async def running_bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    """The real aiogram Bot on ``fake``, its session closed afterwards."""
    bot = bot_for(fake)
    try:
        yield bot
    finally:
        await bot.session.close()
