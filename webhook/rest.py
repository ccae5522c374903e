"""The API for external systems (a CRM, reports): chats and transcripts, closing and assigning, by API key."""

from __future__ import annotations

import datetime as dt
import hmac

from aiohttp import web

from core.config import SETTINGS
from models import ChatStatus
from support.contracts import ChatAlreadyTaken, ChatClosed, NotAllowed
from support.search import MAX_QUERY
from support.service import SERVICE
from webhook.http_api import MAX_ID, ApiError, bearer_token, parse_id, parse_int, read_json

MAX_PAGE = 100


def known_key(request: web.Request, given: str) -> bool:
    # Compare against every key in constant time, so timing tells nothing about how close a guess was;
    # as bytes, because compare_digest refuses a str with non-ASCII characters.
    raw = given.encode("utf-8", "surrogateescape")
    return any(hmac.compare_digest(raw, key.encode()) for key in request.app[SETTINGS].integrations.api_keys)


def _check_key(request: web.Request) -> None:
    keys = request.app[SETTINGS].integrations.api_keys
    if not keys:
        raise ApiError(403, "api_disabled", "The integration API is off: set [integrations] api_keys.")
    given = bearer_token(request)
    if not given:
        raise ApiError(401, "missing_token", "Authorization: Bearer <api key> is required.")
    if not known_key(request, given):
        raise ApiError(403, "invalid_token", "Unknown API key.")


async def list_chats(request: web.Request) -> web.Response:
    _check_key(request)
    status = request.query.get("status") or None
    if status is not None and status not in (ChatStatus.WAITING, ChatStatus.ASSIGNED, ChatStatus.CLOSED):
        raise ApiError(400, "invalid_field", "status: one of waiting, assigned, closed", field="status")
    since = None
    if request.query.get("since"):
        try:
            since = dt.datetime.fromisoformat(request.query["since"].replace("Z", "+00:00"))
            if since.tzinfo is not None:
                since = since.astimezone(dt.UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):  # 0001-01-01T00:00:00+05:00 is before year 1 in UTC
            raise ApiError(400, "invalid_field", "since: an ISO 8601 date or time", field="since") from None
    limit = parse_int(request.query.get("limit"), "limit", default=50, low=1, high=MAX_PAGE)
    before = parse_int(request.query.get("before"), "before", default=0, low=0, high=MAX_ID) or None
    text = request.query.get("q", "").strip() or None
    if text is not None and len(text) > MAX_QUERY:
        raise ApiError(400, "invalid_field", f"q: at most {MAX_QUERY} characters", field="q")
    if text is not None and "\x00" in text:
        raise ApiError(400, "invalid_field", "q: must not contain NUL characters", field="q")
    chats = await request.app[SERVICE].queries.list_chats(status=status, since=since, limit=limit, before_id=before,
                                                          text=text)
    # Newest first; pass the last id as `before` for the next page.
    next_before = chats[-1]["id"] if len(chats) == limit else None
    return web.json_response({"chats": chats, "next_before": next_before})


async def chat_detail(request: web.Request) -> web.Response:
    _check_key(request)
    chat_id = _chat_id(request)
    service = request.app[SERVICE]
    chat = await service.queries.chat_snapshot(chat_id)
    return web.json_response({"chat": chat, "messages": await service.queries.chat_transcript(chat_id)})


def _chat_id(request: web.Request) -> int:
    return parse_id(request.match_info["chat_id"], "chat_id")


async def close_chat(request: web.Request) -> web.Response:
    _check_key(request)
    chat_id = _chat_id(request)
    chat = await request.app[SERVICE].lifecycle.close_from_outside(chat_id, by="API")
    return web.json_response({"chat": chat})


async def assign_chat(request: web.Request) -> web.Response:
    _check_key(request)
    chat_id = _chat_id(request)
    body = await read_json(request)
    telegram_id = body.get("manager_telegram_id") if isinstance(body, dict) else None
    # A JSON integer only: 1.5, 1e999, "42" and true are refused, not converted.
    if type(telegram_id) is not int or not 1 <= telegram_id <= MAX_ID:
        raise ApiError(400, "invalid_field", "manager_telegram_id: required, an integer",
                       field="manager_telegram_id")
    service = request.app[SERVICE]
    try:
        await service.lifecycle.assign(chat_id, telegram_id, by="API")
    except NotAllowed:
        raise ApiError(400, "invalid_field", "No active manager with that Telegram ID.",
                        field="manager_telegram_id") from None
    except (ChatAlreadyTaken, ChatClosed):
        raise ApiError(409, "not_waiting", "Only a chat waiting for a manager can be assigned.") from None
    return web.json_response({"chat": await service.queries.chat_snapshot(chat_id)})


def setup_rest(app: web.Application) -> None:
    app.router.add_get("/api/v1/chats", list_chats)
    app.router.add_get("/api/v1/chats/{chat_id}", chat_detail)
    app.router.add_post("/api/v1/chats/{chat_id}/close", close_chat)
    app.router.add_post("/api/v1/chats/{chat_id}/assign", assign_chat)
