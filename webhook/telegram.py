"""The Telegram webhook: where Telegram POSTs updates when TELEGRAM_WEBHOOK_URL is set."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from core.config import TelegramSettings


def setup_telegram_webhook(
    app: web.Application, dispatcher: Dispatcher, bot: Bot, telegram: TelegramSettings
) -> None:
    # aiogram checks X-Telegram-Bot-Api-Secret-Token itself and answers 401 to anyone else.
    SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, secret_token=telegram.webhook_secret, handle_in_background=False,
    ).register(app, path=telegram.webhook_path)
