"""The API for external systems (a CRM, reports): chats and transcripts, closing and assigning, by API key."""

from __future__ import annotations

import datetime as dt
import hmac

from aiohttp import web

from core.config import SETTINGS
from models import ChatStatus
from support.contracts import ChatAlreadyTaken, ChatClosed, ChatNotFound, NotAllowed
from support.search import MAX_QUERY
from support.service import SERVICE
from widget.api import api_error

MAX_PAGE = 100


def known_key(request: web.Request, given: str) -> bool:
    # Compare against every key in constant time, so timing tells nothing about how close a guess was.
    return any(hmac.compare_digest(given, key) for key in request.app[SETTINGS].integrations.api_keys)


def _check_key(request: web.Request) -> None:
    keys = request.app[SETTINGS].integrations.api_keys
    header = request.headers.get("Authorization", "")
    if not keys:
        raise api_error(403, "api_disabled", "The integration API is off: set [integrations] api_keys.")
    if not header.lower().startswith("bearer "):
        raise api_error(401, "missing_token", "Authorization: Bearer <api key> is required.")
    if not known_key(request, header[7:].strip()):
        raise api_error(403, "invalid_token", "Unknown API key.")


async def list_chats(request: web.Request) -> web.Response:
    _check_key(request)
    status = request.query.get("status") or None
    if status is not None and status not in (ChatStatus.WAITING, ChatStatus.ASSIGNED, ChatStatus.CLOSED):
        raise api_error(400, "invalid_field", "status: one of waiting, assigned, closed", field="status")
    since = None
    if request.query.get("since"):
        try:
            since = dt.datetime.fromisoformat(request.query["since"].replace("Z", "+00:00"))
        except ValueError:
            raise api_error(400, "invalid_field", "since: an ISO 8601 date or time", field="since") from None
        if since.tzinfo is not None:
            since = since.astimezone(dt.UTC).replace(tzinfo=None)
    try:
        limit = int(request.query.get("limit", "50"))
        before = int(request.query["before"]) if request.query.get("before") else None
    except ValueError:
        raise api_error(400, "invalid_field", "limit and before: integers", field="limit") from None
    if not 1 <= limit <= MAX_PAGE:
        raise api_error(400, "invalid_field", f"limit: between 1 and {MAX_PAGE}", field="limit")
    text = request.query.get("q", "").strip() or None
    if text is not None and len(text) > MAX_QUERY:
        raise api_error(400, "invalid_field", f"q: at most {MAX_QUERY} characters", field="q")
    chats = await request.app[SERVICE].queries.list_chats(status=status, since=since, limit=limit, before_id=before,
                                                          text=text)
    # Newest first; pass the last id as `before` for the next page.
    next_before = chats[-1]["id"] if len(chats) == limit else None
    return web.json_response({"chats": chats, "next_before": next_before})


async def chat_detail(request: web.Request) -> web.Response:
    _check_key(request)
    chat_id = _chat_id(request)
    service = request.app[SERVICE]
    try:
        chat = await service.queries.chat_snapshot(chat_id)
    except ChatNotFound:
        raise api_error(404, "chat_not_found", f"No chat {chat_id}.") from None
    return web.json_response({"chat": chat, "messages": await service.queries.chat_transcript(chat_id)})


def _chat_id(request: web.Request) -> int:
    try:
        return int(request.match_info["chat_id"])
    except ValueError:
        raise api_error(400, "invalid_field", "chat id: an integer", field="chat_id") from None


async def close_chat(request: web.Request) -> web.Response:
    _check_key(request)
    chat_id = _chat_id(request)
    try:
        chat = await request.app[SERVICE].lifecycle.close_from_outside(chat_id, by="API")
    except ChatNotFound:
        raise api_error(404, "chat_not_found", f"No chat {chat_id}.") from None
    except ChatClosed:
        raise api_error(409, "chat_closed", "The chat is closed already.") from None
    return web.json_response({"chat": chat})


async def assign_chat(request: web.Request) -> web.Response:
    _check_key(request)
    chat_id = _chat_id(request)
    try:
        body = await request.json()
        telegram_id = int(body["manager_telegram_id"])
    except (ValueError, KeyError, TypeError):
        raise api_error(400, "invalid_field", "manager_telegram_id: required, an integer",
                        field="manager_telegram_id") from None
    service = request.app[SERVICE]
    try:
        await service.lifecycle.assign(chat_id, telegram_id, by="API")
    except ChatNotFound:
        raise api_error(404, "chat_not_found", f"No chat {chat_id}.") from None
    except NotAllowed:
        raise api_error(400, "invalid_field", "No active manager with that Telegram ID.",
                        field="manager_telegram_id") from None
    except (ChatAlreadyTaken, ChatClosed):
        raise api_error(409, "not_waiting", "Only a chat waiting for a manager can be assigned.") from None
    return web.json_response({"chat": await service.queries.chat_snapshot(chat_id)})


def setup_rest(app: web.Application) -> None:
    app.router.add_get("/api/v1/chats", list_chats)
    app.router.add_get("/api/v1/chats/{chat_id}", chat_detail)
    app.router.add_post("/api/v1/chats/{chat_id}/close", close_chat)
    app.router.add_post("/api/v1/chats/{chat_id}/assign", assign_chat)
