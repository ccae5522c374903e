"""The Bot API calls the bot makes outside the outbox, paced by the same buckets (support.pacing)."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from support.pacing import Pacer, paced_by_outbox


class PacedRequests(BaseRequestMiddleware):
    """Bot API calls made outside the outbox (a handler answering a manager) wait for the same buckets, and
    go before the outbox's rows for that chat; a 429 they meet pauses the chat as the outbox's do."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Any:
        chat_id = getattr(method, "chat_id", None)
        if not isinstance(chat_id, int) or paced_by_outbox.get():
            return await make_request(bot, method)
        await self.pacer.acquire(chat_id, method.__api_method__)
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as exc:
            self.pacer.pause(chat_id, float(exc.retry_after))
            raise
