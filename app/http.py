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
    if request.method == "OPTIONS":
        response: web.StreamResponse = web.Response(status=204)
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
    if allow:
        response.headers["Access-Control-Allow-Origin"] = allow
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"
    if isinstance(response, web.HTTPException) and response.status >= 400:
        raise response
    return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API clients always get JSON, even for a route that does not exist or a crash."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status, "http_error")
        raise type(exc)(**_json_error_kwargs(exc, code)) from None
    except Exception:
        log.exception("Unhandled error in %s %s", request.method, request.path)
        return web.json_response({"error": "internal_error", "message": "Something went wrong on our side."},
                                 status=500)


def _json_error_kwargs(exc: web.HTTPException, code: str) -> dict[str, object]:
    import json

    kwargs: dict[str, object] = {
        "text": json.dumps({"error": code, "message": exc.reason}), "content_type": "application/json",
    }
    if isinstance(exc, web.HTTPMethodNotAllowed):
        kwargs.update(method=exc.method, allowed_methods=exc.allowed_methods)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        kwargs.update(max_size=0, actual_size=0)
    return kwargs


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
    app = web.Application(middlewares=[json_errors, api_cors], client_max_size=max_body)
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
