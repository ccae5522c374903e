"""The Telegram webhook: where Telegram POSTs updates when TELEGRAM_WEBHOOK_URL is set.

aiogram's handler, hardened against a forged or broken request."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from core.config import TelegramSettings

log = logging.getLogger(__name__)


class TelegramWebhook(SimpleRequestHandler):
    """A wrong secret (even one with non-ASCII bytes) is a 401; a body that is no Update is a 400, not a 500."""

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        if not self.secret_token:
            return True
        # compare_digest refuses non-ASCII str; bytes compare in constant time whatever they hold.
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.secret_token.encode("utf-8"))

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            raw = json.loads(await request.text())
            update = Update.model_validate(raw, context={"bot": bot})
        except (ValueError, RecursionError, ValidationError) as exc:  # JSONDecodeError is a ValueError
            log.warning("Telegram webhook: a request with the right secret but no valid update (%s)",
                        type(exc).__name__)
            return web.json_response({"error": "invalid_update", "message": "The body is not a Telegram Update."},
                                     status=400)
        result = await self.dispatcher.feed_webhook_update(bot, update, **self.data)
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


def telegram_webhook_handler(
    dispatcher: Dispatcher, bot: Bot, telegram: TelegramSettings
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler app.http's webhook route hands Telegram's POSTs to once the bot is up."""
    return TelegramWebhook(
        dispatcher=dispatcher, bot=bot, secret_token=telegram.webhook_secret, handle_in_background=False,
    ).handle
