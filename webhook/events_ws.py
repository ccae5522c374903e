"""`GET /api/v1/events/ws`: the webhooks' events, live, for dashboards and wallboards.

The API key (one of [integrations] api_keys) comes in `Authorization: Bearer <key>`, or — for browsers, which
cannot set headers on a WebSocket — in the first frame `{"type": "auth", "api_key": "...", "after": <id>}`; never
in the URL, where proxies log it. Events are stored rows (support.integrations), so `after` (the last id the
client saw; also `?after=`) resumes without a gap: the stored events after it first, then new ones as they
commit. Each frame: `{"id", "event", "created_at", "data"}`, the webhook body plus its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import WSMsgType, web

from core.config import SETTINGS
from support.service import SERVICE
from webhook.http_api import MAX_ID, ApiError
from webhook.rest import known_key

log = logging.getLogger(__name__)

AUTH_TIMEOUT_SECONDS = 10.0
# Another process (a second instance behind a proxy) commits events this one is not told about: re-read anyway.
REREAD_SECONDS = 5.0
PAGE = 200


def _after(raw: object) -> int:
    try:
        value = int(str(raw or 0))
    except ValueError:
        raise ValueError("after: an event id (integer)") from None
    if not 0 <= value <= MAX_ID:  # a larger id could only fail in the database
        raise ValueError("after: an event id (integer)")
    return value


async def events_ws(request: web.Request) -> web.StreamResponse:
    if not request.app[SETTINGS].integrations.api_keys:
        raise ApiError(403, "api_disabled", "The integration API is off: set [integrations] api_keys.")
    header = request.headers.get("Authorization", "")
    by_header = header.lower().startswith("bearer ")
    if by_header and not known_key(request, header[7:].strip()):
        raise ApiError(403, "invalid_token", "Unknown API key.")
    try:
        after = _after(request.query.get("after"))
    except ValueError as exc:
        raise ApiError(400, "invalid_field", str(exc), field="after") from None
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=16 * 1024)
    await ws.prepare(request)
    if not by_header:
        try:
            frame = await ws.receive_json(timeout=AUTH_TIMEOUT_SECONDS)
            if not isinstance(frame, dict) or frame.get("type") != "auth" or not known_key(
                    request, str(frame.get("api_key", ""))):
                raise PermissionError
            after = _after(frame.get("after", after))
        except (TimeoutError, TypeError, ValueError, RecursionError, PermissionError):
            await ws.send_json({"type": "error", "error": "invalid_token",
                                "message": "Send {\"type\": \"auth\", \"api_key\": ...} first, with a valid key."})
            await ws.close(code=4401, message=b"unauthorized")
            return ws
    await ws.send_json({"type": "ready", "after": after})
    sink, queries = request.app[SERVICE].store.integrations, request.app[SERVICE].queries
    signal = sink.listen()

    async def pusher() -> None:
        last = after
        while not ws.closed:
            signal.clear()  # before reading: a commit during the read sets it again
            while batch := await queries.integration_events_after(last, PAGE):
                for event in batch:
                    await ws.send_json(event)
                    last = event["id"]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), REREAD_SECONDS)

    push = asyncio.create_task(pusher())
    try:
        async for message in ws:  # the client only pings; anything else is answered and ignored
            if message.type == WSMsgType.TEXT:
                with contextlib.suppress(ValueError):
                    if json.loads(message.data).get("type") == "ping":
                        await ws.send_json({"type": "pong"})
            if push.done():
                break
    finally:
        push.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            await push
        sink.unlisten(signal)
    return ws


def setup_events_ws(app: web.Application) -> None:
    app.router.add_get("/api/v1/events/ws", events_ws)
