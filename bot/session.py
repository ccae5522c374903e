"""The HTTP session the bot calls the Bot API through.

aiogram checks every answer through `Response[<the method's result type>]`, a pydantic generic model. pydantic keeps
its parametrized generics in a weak-value cache, so once the last answer of a kind is gone the class is collected
and the next call builds it again: schema and validator, about 10 ms of CPU on every other sendMessage, with the
event loop blocked meanwhile (a webhook update or a widget push waits behind it). Holding each parametrized class
for the life of the process keeps that cost to the first call of each result type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods.base import Response, TelegramMethod, TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

# Result type → its Response model; a strong reference, so pydantic's weak cache keeps returning the same class.
_RESPONSE_TYPES: dict[Any, type[Any]] = {}


class BotSession(AiohttpSession):
    """aiogram's aiohttp session, its answer models built once per result type."""

    def check_response(self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int,
                       content: str) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)
