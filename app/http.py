"""Assembles the aiohttp application that runs in the bot's event loop, from each room's routes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import peewee_async
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
from widget.api import setup_api
from widget.identity import setup_identity
from widget.outreach import setup_outreach
from widget.pages import setup_pages

log = logging.getLogger(__name__)

DATABASE: web.AppKey[peewee_async.AioDatabase] = web.AppKey("database")
TELEGRAM_MODE = web.AppKey("telegram_mode", str)  # polling | webhook | sandbox
WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Startup:
    """What is still coming up after the web server started serving (app.product starts the Telegram side
    after the widget and API: aiogram's import is most of a cold start). /healthz lists it under "starting"."""

    def __init__(self, parts: Iterable[str] = ()) -> None:
        self.starting: set[str] = set(parts)
        self.telegram_webhook: WebHandler | None = None  # aiogram's handler, once the bot is up (webhook mode)

    def up(self, part: str) -> None:
        self.starting.discard(part)


STARTUP = web.AppKey("startup", Startup)


async def healthz(request: web.Request) -> web.Response:
    database_ok = await ping(request.app[DATABASE])
    body = {
        "status": "ok" if database_ok else "degraded",
        "database": "ok" if database_ok else "down",
        "telegram": request.app[TELEGRAM_MODE],
        # Parts still coming up; meanwhile the widget and API work and what must reach Telegram is stored.
        "starting": sorted(request.app[STARTUP].starting),
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
    telegram_mode: str,
    startup: Startup | None = None,
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
    app[STARTUP] = startup = startup or Startup()
    app.router.add_get("/healthz", healthz)
    setup_api(app)
    setup_identity(app)
    setup_outreach(app)
    setup_rest(app)
    setup_events_ws(app)
    setup_pages(app)
    if telegram_mode == "webhook":
        app.router.add_post(settings.telegram.webhook_path, _telegram_webhook(startup))
    return app


def _telegram_webhook(startup: Startup) -> WebHandler:
    """Telegram's updates, once the bot is up; before that a 503, and Telegram delivers the update again later."""

    async def webhook(request: web.Request) -> web.StreamResponse:
        if startup.telegram_webhook is None:
            return web.json_response({"error": "starting", "message": "The bot is starting; try again."},
                                     status=503, headers={"Retry-After": "1"})
        return await startup.telegram_webhook(request)

    return webhook
