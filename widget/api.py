"""The widget's public HTTP API. Thin handlers: parse and check, call the chat service, answer JSON."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, WSMsgType, web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError

from core.config import SETTINGS
from models import VisitorSession
from support.attachments import AttachmentRejected
from support.contracts import AlreadyRated, ChatNotFound, InvalidToken, SessionNotFound
from support.events import HUB, message_event
from support.service import SERVICE
from support.texts import error_text
from widget.ratelimit import RateLimiter
from widget.schemas import RateBody, SendMessageBody, SessionBody, StartBody, TransferBody

log = logging.getLogger(__name__)
Body = TypeVar("Body", bound=BaseModel)

LONG_POLL_MAX_SECONDS = 30.0
# Set when the server is stopping: long-polls answer at once instead of holding the shutdown.
_SHUTTING_DOWN = web.AppKey("widget_shutting_down", asyncio.Event)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)  # visitor messages per minute, per session
# The open widget sockets, closed with 1001 (going away) at shutdown.
WEBSOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("websockets")
WS_HEARTBEAT_SECONDS = 20.0
REPLAY_PAGE = 200


def api_error(status: int, code: str, message: str, **extra: Any) -> web.HTTPException:
    exc_class = {
        400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
        409: web.HTTPConflict, 413: web.HTTPRequestEntityTooLarge, 415: web.HTTPUnsupportedMediaType,
        429: web.HTTPTooManyRequests,
    }[status]
    body = json.dumps({"error": code, "message": message, **extra}, ensure_ascii=False)
    if status == 413:
        return web.HTTPRequestEntityTooLarge(
            max_size=extra.get("limit", 0), actual_size=extra.get("length", 0), text=body,
            content_type="application/json",
        )
    return exc_class(text=body, content_type="application/json")  # type: ignore[no-any-return]


def request_locale(request: web.Request) -> str | None:
    """The widget names its own language in Accept-Language; other clients keep the API's English messages."""
    first = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip().lower()
    language = first.split("-")[0]
    return language if language in ("ru", "en") else None


def localise(body: dict[str, Any], locale: str, attachment_limit: int = 0) -> dict[str, Any]:
    """The error body with its message in the visitor's language (the code and the figures stay)."""
    limit = body.get("limit") or 0
    mb = (limit if body.get("error") == "file_too_large" and limit else attachment_limit) // (1024 * 1024)
    message = error_text(str(body.get("error")), locale, body.get("field"), limit=limit, mb=mb,
                         retry_after=body.get("retry_after", ""))
    return {**body, "message": message}


@web.middleware
async def localised_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal the widget can show reaches it in the widget's language."""
    locale = request_locale(request) if request.path.startswith("/api/chat/") else None
    if locale is None:
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type != "application/json" or not exc.text:
            raise
        attachments = request.app[SERVICE].attachments
        body = localise(json.loads(exc.text), locale, attachments.max_bytes if attachments else 0)
        exc.text = json.dumps(body, ensure_ascii=False)
        raise


async def parse_body(request: web.Request, model: type[Body]) -> Body:
    if request.body_exists:
        try:
            raw = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise api_error(400, "invalid_json", "The request body is not valid JSON.") from None
    else:
        raw = {}
    if not isinstance(raw, dict):
        raise api_error(400, "invalid_json", "The request body must be a JSON object.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise api_error(400, "invalid_field", message, field=field) from None


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The first invalid field and a readable reason ("text: text must not be empty")."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return field, f"{field}: " + str(first["msg"]).removeprefix("Value error, ")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query.get("token")


async def authenticate(request: web.Request, session_id: str) -> VisitorSession:
    token = _bearer(request)
    if not token:
        raise api_error(401, "missing_token", "Authorization: Bearer <token> is required.")
    try:
        return await request.app[SERVICE].visitors.authenticate(session_id, token)
    except SessionNotFound:
        raise api_error(404, "session_not_found", "Unknown session; start a new one.") from None
    except InvalidToken:
        raise api_error(403, "invalid_token", "The token does not match this session.") from None


def check_text(request: web.Request, session: VisitorSession, text: str) -> None:
    limit = request.app[SETTINGS].support.max_message_length
    if len(text) > limit:
        raise api_error(413, "message_too_long", f"A message may be at most {limit} characters.",
                        limit=limit, length=len(text))
    limiter = request.app[RATE_LIMITER]
    if not limiter.allow(session.session_id):
        retry = limiter.retry_after(session.session_id)
        raise api_error(429, "too_many_messages", f"Too many messages; try again in {retry} s.", retry_after=retry)


async def start_chat(request: web.Request) -> web.Response:
    body = await parse_body(request, StartBody)
    # Sessions are cheap to ask for; a script asking for thousands is refused per address.
    address = request.remote or "?"
    limiter = request.app[START_LIMITER]
    if not limiter.allow(address):
        retry = limiter.retry_after(address)
        raise api_error(429, "too_many_sessions", f"Too many new chats; try again in {retry} s.", retry_after=retry)
    session, token = await request.app[SERVICE].visitors.start_session(
        page_url=body.page_url, locale=body.locale, name=body.name, phone=body.phone,
        visit=body.visit(request.headers.get("User-Agent")),
    )
    return web.json_response({"session_id": session.session_id, "token": token}, status=201)


async def send_message(request: web.Request) -> web.Response:
    body = await parse_body(request, SendMessageBody)
    session = await authenticate(request, body.session_id)
    check_text(request, session, body.text)
    message = await request.app[SERVICE].relay.visitor_message(
        session, body.text, client_message_id=body.client_message_id
    )
    return web.json_response(message_event(message))


async def transfer_to_manager(request: web.Request) -> web.Response:
    body = await parse_body(request, TransferBody)
    session = await authenticate(request, body.session_id)
    result = await request.app[SERVICE].lifecycle.hand_over(session, name=body.name, phone=body.phone)
    return web.json_response({"status": result.status, "support_chat_id": result.support_chat_id})


async def upload_file(request: web.Request) -> web.Response:
    """multipart/form-data: session_id, file, and optionally caption and client_message_id."""
    if not request.content_type.startswith("multipart/"):
        raise api_error(400, "invalid_body", "Send the file as multipart/form-data.")
    service = request.app[SERVICE]
    limit = service.attachments.max_bytes if service.attachments else 0
    fields: dict[str, str] = {}
    data = b""
    filename = None
    # Read part by part with our own cap, so a huge upload is refused without being held in memory.
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            # Some clients (aiohttp's own FormData) percent-encode non-ASCII file names; browsers send UTF-8.
            filename = unquote(part.filename or "")
            chunks, size = [], 0
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise api_error(413, "file_too_large", f"Files may be at most {limit // (1024 * 1024)} MB.",
                                    limit=limit, length=size)
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name in ("session_id", "caption", "client_message_id"):
            fields[part.name] = (await part.text())[:4000]
    session = await authenticate(request, _session_param_from(fields))
    check_text(request, session, fields.get("caption", ""))
    if not data:
        raise api_error(400, "invalid_field", "file: required", field="file")
    try:
        message = await service.relay.visitor_file(
            session, data, filename=filename, caption=fields.get("caption") or None,
            client_message_id=fields.get("client_message_id") or None,
        )
    except AttachmentRejected as exc:
        status = 413 if exc.code == "file_too_large" else 415 if exc.code == "unsupported_file" else 400
        raise api_error(status, exc.code, exc.message) from None
    return web.json_response(message_event(message))


def _session_param_from(fields: dict[str, str]) -> str:
    session_id = fields.get("session_id", "")
    if not session_id or len(session_id) > 64:
        raise api_error(400, "invalid_field", "session_id: required", field="session_id")
    return session_id


async def download_file(request: web.Request) -> web.StreamResponse:
    session = await authenticate(request, _session_param(request))
    try:
        attachment_id = int(request.match_info["attachment_id"])
        attachment, path = await request.app[SERVICE].visitors.attachment_for(session, attachment_id)
    except (ValueError, ChatNotFound):
        raise api_error(404, "file_not_found", "No such file in this chat.") from None
    disposition = "inline" if attachment.content_type.startswith("image/") else "attachment"
    return web.FileResponse(path, headers={
        "Content-Type": attachment.content_type,
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(attachment.filename)}",
        "Cache-Control": "private, max-age=86400",
        "X-Content-Type-Options": "nosniff",
    })


async def rate_chat(request: web.Request) -> web.Response:
    body = await parse_body(request, RateBody)
    session = await authenticate(request, body.session_id)
    try:
        await request.app[SERVICE].relay.rate(session, body.support_chat_id, body.rating, body.comment)
    except ChatNotFound:
        raise api_error(404, "chat_not_found", "No such chat in this session.") from None
    except AlreadyRated:
        raise api_error(409, "already_rated", "This chat was already rated, or cannot be rated.") from None
    return web.json_response({"status": "rated", "rating": body.rating})


async def chat_state(request: web.Request) -> web.Response:
    session = await authenticate(request, _session_param(request))
    service = request.app[SERVICE]
    # "email": the widget offers the transcript by email only where SMTP is set up.
    return web.json_response({**await service.visitors.state(session), "email": service.transcripts.enabled})


def _session_param(request: web.Request) -> str:
    try:
        return SessionBody(session_id=request.query.get("session_id", "")).session_id
    except ValidationError:
        raise api_error(400, "invalid_field", "session_id: required", field="session_id") from None


def _int_param(request: web.Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise api_error(400, "invalid_field", f"{name}: must be a number", field=name) from None
    if not low <= value <= high:
        raise api_error(400, "invalid_field", f"{name}: must be between {low:g} and {high:g}", field=name)
    return value


async def events(request: web.Request) -> web.Response:
    """Long-poll: the events after `after` at once, or the next ones within `timeout` seconds."""
    session = await authenticate(request, _session_param(request))
    after = int(_int_param(request, "after", 0, 0, 2**62))
    timeout = _int_param(request, "timeout", 25, 0, LONG_POLL_MAX_SECONDS)
    service, hub = request.app[SERVICE], request.app[HUB]
    queue = hub.subscribe(session.id)  # before reading, so nothing stored in between is missed
    try:
        found = await service.visitors.events_after(session, after)
        deadline = asyncio.get_running_loop().time() + timeout
        while not found:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(queue.get(), timeout=remaining)
            except TimeoutError:
                break
            if item is None:  # a stored event, or shutdown: read again
                found = await service.visitors.events_after(session, after)
                if request.app[_SHUTTING_DOWN].is_set():
                    break
    finally:
        hub.unsubscribe(session.id, queue)
    return web.json_response({"events": found})


async def websocket(request: web.Request) -> web.StreamResponse:
    session = await authenticate(request, _session_param(request))
    after = int(_int_param(request, "after", 0, 0, 2**62))
    ws = web.WebSocketResponse(heartbeat=WS_HEARTBEAT_SECONDS, max_msg_size=64 * 1024)
    await ws.prepare(request)
    request.app[WEBSOCKETS].add(ws)
    service, hub = request.app[SERVICE], request.app[HUB]
    queue = hub.subscribe(session.id)
    last_sent = after

    async def push_stored() -> None:
        nonlocal last_sent
        while True:  # a long history arrives in pages; keep reading until it is all sent
            batch = await service.visitors.events_after(session, last_sent, limit=REPLAY_PAGE)
            for event in batch:
                await ws.send_json(event)
                last_sent = event["id"]
            if len(batch) < REPLAY_PAGE:
                return

    async def pusher() -> None:
        await push_stored()
        while not ws.closed:
            item = await queue.get()
            if item is None:
                await push_stored()
            else:
                await ws.send_json(item)

    push_task = asyncio.create_task(pusher())
    try:
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            reply = await _handle_client_frame(request, session, frame.data)
            if reply is not None:
                await ws.send_json(reply)
    finally:
        push_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            await push_task
        hub.unsubscribe(session.id, queue)
    return ws


async def _handle_client_frame(request: web.Request, session: VisitorSession, data: str) -> dict[str, Any] | None:
    try:
        frame = json.loads(data)
    except json.JSONDecodeError:
        return {"type": "error", "error": "invalid_json", "message": "Frames must be JSON objects."}
    if not isinstance(frame, dict):
        return {"type": "error", "error": "invalid_json", "message": "Frames must be JSON objects."}
    kind = frame.get("type")
    if kind == "ping":
        return {"type": "pong"}
    if kind == "typing":
        # The manager sees "печатает…" in the chat's topic; throttled per chat by the topics use case.
        await request.app[SERVICE].topics.visitor_typing(session)
        return None
    if kind != "user_message":
        return {"type": "error", "error": "unknown_type", "message": f"Unknown frame type {kind!r}."}
    try:
        body = SendMessageBody.model_validate({**frame, "session_id": session.session_id})
        check_text(request, session, body.text)
    except ValidationError as exc:
        field, message = first_problem(exc)
        error = {"error": "invalid_field", "message": message, "field": field}
    except web.HTTPException as exc:
        error = json.loads(exc.text or "{}")
    else:
        message = await request.app[SERVICE].relay.visitor_message(
            session, body.text, client_message_id=body.client_message_id
        )
        return {"type": "ack", "client_message_id": body.client_message_id, "id": message.id}
    # A socket carries no Accept-Language: the session's own language decides.
    return {"type": "error", **localise(error, session.locale), "client_message_id": frame.get("client_message_id")}


async def close_websockets(app: web.Application) -> None:
    """on_shutdown: tell live widgets we are going away, so they reconnect (and resume) elsewhere."""
    app[_SHUTTING_DOWN].set()
    app[HUB].close_all()
    for ws in list(app[WEBSOCKETS]):
        await ws.close(code=1001, message=b"server shutdown")


START_LIMITER = web.AppKey("start_limiter", RateLimiter)


def setup_api(app: web.Application) -> None:
    app[_SHUTTING_DOWN] = asyncio.Event()
    app[START_LIMITER] = RateLimiter(app[SETTINGS].http.sessions_per_minute)
    app[RATE_LIMITER] = RateLimiter(app[SETTINGS].support.messages_per_minute)
    app[WEBSOCKETS] = weakref.WeakSet()
    app.middlewares.append(localised_errors)  # innermost: it sees the handlers' own refusals
    app.router.add_post("/api/chat/start", start_chat)
    app.router.add_post("/api/chat/send-message", send_message)
    app.router.add_post("/api/chat/transfer-to-manager", transfer_to_manager)
    app.router.add_get("/api/chat/state", chat_state)
    app.router.add_post("/api/chat/rate", rate_chat)
    app.router.add_post("/api/chat/upload", upload_file)
    app.router.add_get("/api/chat/attachments/{attachment_id}", download_file)
    app.router.add_get("/api/chat/events", events)
    app.router.add_get("/api/chat/ws", websocket)
    app.on_shutdown.append(close_websockets)
