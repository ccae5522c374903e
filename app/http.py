"""Assembles the aiohttp application that runs in the bot's event loop, from each room's routes."""

from __future__ import annotations

import logging

import peewee_async
from aiogram import Bot, Dispatcher
from aiohttp import web
from aiohttp.typedefs import Handler

from core.config import SETTINGS, Settings
from core.db import ping
from support.coordination import COORDINATOR
from support.events import HUB, EventHub
from support.service import SERVICE, SupportService
from webhook.events_ws import setup_events_ws
from webhook.http_api import json_errors
from webhook.rest import setup_rest
from webhook.telegram import setup_telegram_webhook
from widget.api import setup_api
from widget.identity import setup_identity
from widget.outreach import setup_outreach
from widget.pages import setup_pages

log = logging.getLogger(__name__)

DATABASE: web.AppKey[peewee_async.AioDatabase] = web.AppKey("database")
TELEGRAM_MODE = web.AppKey("telegram_mode", str)  # polling | webhook | sandbox


async def healthz(request: web.Request) -> web.Response:
    database_ok = await ping(request.app[DATABASE])
    body = {
        "status": "ok" if database_ok else "degraded",
        "database": "ok" if database_ok else "down",
        "telegram": request.app[TELEGRAM_MODE],
    }
    coordinator = request.app.get(COORDINATOR)
    if coordinator is not None:
        body["role"] = coordinator.status()  # poller / job leader / listening, per process
    return web.json_response(body, status=200 if database_ok else 503)


@web.middleware
async def api_cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The widget is embedded in the fleet's own sites, so its API answers cross-origin calls."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    allowed = request.app[SETTINGS].http.cors_origins
    origin = request.headers.get("Origin")
    allow = "*" if "*" in allowed else (origin if origin in allowed else None)
    # Errors reach here as responses already (json_errors sits inside), so they carry the headers too.
    response = web.Response(status=204) if request.method == "OPTIONS" else await handler(request)
    if allow:
        response.headers["Access-Control-Allow-Origin"] = allow
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def create_app(
    *,
    settings: Settings,
    database: peewee_async.AioDatabase,
    service: SupportService,
    hub: EventHub,
    bot: Bot,
    dispatcher: Dispatcher,
    telegram_mode: str,
) -> web.Application:
    # The widget API needs little; the sandbox's Bot API, served by this same app, receives the admins'
    # statistics documents, which Telegram accepts up to 50 MB.
    max_body = 50 * 1024 * 1024 if telegram_mode == "sandbox" else 256 * 1024
    app = web.Application(middlewares=[api_cors, json_errors], client_max_size=max_body)
    app[SETTINGS] = settings
    app[DATABASE] = database
    app[SERVICE] = service
    app[HUB] = hub
    app[TELEGRAM_MODE] = telegram_mode
    app.router.add_get("/healthz", healthz)
    setup_api(app)
    setup_identity(app)
    setup_outreach(app)
    setup_rest(app)
    setup_events_ws(app)
    setup_pages(app)
    if telegram_mode == "webhook":
        setup_telegram_webhook(app, dispatcher, bot, settings.telegram)
    return app
