"""Typed keys for the objects the aiohttp application carries (aiohttp's web.AppKey)."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    import peewee_async
    from aiogram import Bot, Dispatcher

    from core.config import Settings
    from support.events import EventHub
    from support.service import SupportService
    from widget.ratelimit import RateLimiter

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[peewee_async.AioDatabase] = web.AppKey("database")
SERVICE: web.AppKey[SupportService] = web.AppKey("service")
HUB: web.AppKey[EventHub] = web.AppKey("hub")
BOT: web.AppKey[Bot] = web.AppKey("bot")
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher")
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
TELEGRAM_MODE: web.AppKey[str] = web.AppKey("telegram_mode")  # polling | webhook | sandbox
WEBSOCKETS: web.AppKey[weakref.WeakSet[Any]] = web.AppKey("websockets")
