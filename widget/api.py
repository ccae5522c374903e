"""The widget's public HTTP API. Thin handlers: parse and check, call the chat service, answer JSON."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, WSMessage, WSMsgType, web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError

from core.config import SETTINGS
from models import VisitorSession
from support.contracts import ChatNotFound
from support.events import HUB, Committed, message_event
from support.service import SERVICE
from support.texts import error_text
from webhook.http_api import MAX_ID, ApiError, as_api_error, bearer_token, parse_id, parse_int, read_json
from widget.credentials import CREDENTIALS, Credentials, signing_secret
from widget.fanout import LIVE_SOCKETS, REPLAY_PAGE, LiveSockets
from widget.guard import (
    CAPS,
    SHARED_READS,
    TRUSTED_PROXIES,
    ConnectionCaps,
    SharedReads,
    client_address,
    parse_networks,
)
from widget.ratelimit import RateLimiter
from widget.schemas import RateBody, SendMessageBody, SessionBody, StartBody, TransferBody, storage_problem

log = logging.getLogger(__name__)
Body = TypeVar("Body", bound=BaseModel)

LONG_POLL_MAX_SECONDS = 30.0
# Set when the server is stopping: long-polls answer at once instead of holding the shutdown.
_SHUTTING_DOWN = web.AppKey("widget_shutting_down", asyncio.Event)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)  # visitor messages per minute, per session
WS_HEARTBEAT_SECONDS = 20.0
WS_AUTH_SECONDS = 10.0  # a socket opened without a ticket must say who it is within this


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
    """Every refusal the widget can show reaches it in the widget's language (the error middleware, outside
    this one, turns it into the JSON answer)."""
    locale = request_locale(request) if request.path.startswith("/api/chat/") else None
    if locale is None:
        return await handler(request)
    try:
        return await handler(request)
    except Exception as exc:
        error = as_api_error(exc)
        if error is None:
            raise
        attachments = request.app[SERVICE].attachments
        body = localise(error.body(), locale, attachments.max_bytes if attachments else 0)
        extra = {key: value for key, value in body.items() if key not in ("error", "message")}
        raise ApiError(error.status, error.code, body["message"], **extra) from exc


def api_error(status: int, code: str, message: str, **extra: Any) -> ApiError:
    """Handlers' shorthand for a refusal; the error middleware (webhook/http_api.py) answers it as JSON."""
    return ApiError(status, code, message, **extra)


async def parse_body(request: web.Request, model: type[Body]) -> Body:
    raw = await read_json(request)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise ApiError(400, "invalid_field", message, field=field) from None


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The first invalid field and a readable reason ("text: text must not be empty")."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return field, f"{field}: " + str(first["msg"]).removeprefix("Value error, ")


async def authenticate(request: web.Request, session_id: str) -> VisitorSession:
    """The session the bearer token opens; SessionNotFound / InvalidToken become 404 / 403 in the middleware."""
    token = bearer_token(request)
    if not token:
        raise ApiError(401, "missing_token", "Authorization: Bearer <token> is required.")
    return await request.app[SERVICE].visitors.authenticate(session_id, token)


def check_text(request: web.Request, session: VisitorSession, text: str) -> None:
    limit = request.app[SETTINGS].support.max_message_length
    if len(text) > limit:
        raise ApiError(413, "message_too_long", f"A message may be at most {limit} characters.",
                        limit=limit, length=len(text))
    limiter = request.app[RATE_LIMITER]
    if not limiter.allow(session.session_id):
        retry = limiter.retry_after(session.session_id)
        raise ApiError(429, "too_many_messages", f"Too many messages; try again in {retry} s.", retry_after=retry)


async def start_chat(request: web.Request) -> web.Response:
    body = await parse_body(request, StartBody)
    # Sessions are cheap to ask for; a script asking for thousands is refused per address.
    address = client_address(request, request.app[TRUSTED_PROXIES])
    limiter = request.app[START_LIMITER]
    if not limiter.allow(address):
        retry = limiter.retry_after(address)
        raise ApiError(429, "too_many_sessions", f"Too many new chats; try again in {retry} s.", retry_after=retry)
    session, token = await request.app[SERVICE].visitors.start_session(
        page_url=body.page_url, locale=body.locale, name=body.name, phone=body.phone,
        visit=body.visit(request.headers.get("User-Agent")),
    )
    chips = request.app[SERVICE].assistant.quick_replies(session.locale)
    return web.json_response({"session_id": session.session_id, "token": token, "chips": chips}, status=201)


async def send_message(request: web.Request) -> web.Response:
    body = await parse_body(request, SendMessageBody)
    session = await authenticate(request, body.session_id)
    check_text(request, session, body.text)
    message = await request.app[SERVICE].relay.visitor_message(
        session, body.text, client_message_id=body.client_message_id
    )
    return web.json_response(_linked(request.app, session, message_event(message)))


async def transfer_to_manager(request: web.Request) -> web.Response:
    body = await parse_body(request, TransferBody)
    session = await authenticate(request, body.session_id)
    result = await request.app[SERVICE].lifecycle.hand_over(session, name=body.name, phone=body.phone)
    return web.json_response({"status": result.status, "support_chat_id": result.support_chat_id})


async def upload_file(request: web.Request) -> web.Response:
    """multipart/form-data to /api/chat/upload?session_id=…: file, and optionally caption and client_message_id.

    The session is checked before a byte of the body is read, and the file streams to a temporary file with
    the size cap enforced while reading: a stranger's upload costs neither memory nor disk.
    """
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "invalid_body", "Send the file as multipart/form-data.")
    store = request.app[SERVICE].attachments
    if store is None:
        raise ApiError(415, "uploads_disabled", "This desk does not take files.")
    session = await authenticate(request, _session_param(request))
    limit = store.max_bytes
    too_large = ApiError(413, "file_too_large", f"Files may be at most {limit // (1024 * 1024)} MB.", limit=limit)
    if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
        raise too_large
    fields: dict[str, str] = {}
    filename = None
    temp = store.temp_path()
    received = 0
    try:
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "file":
                    # Some clients (aiohttp's own FormData) percent-encode non-ASCII names; browsers send UTF-8.
                    filename = unquote(part.filename or "")
                    received = await _stream_to(part, temp, limit, too_large)
                elif part.name in ("caption", "client_message_id"):
                    fields[part.name] = (await part.text())[:4000]
        except (ValueError, AssertionError, LookupError, web.HTTPBadRequest) as exc:
            raise ApiError(400, "invalid_body", f"Broken multipart/form-data: {type(exc).__name__}.") from None
        for name, value in fields.items():
            if (problem := storage_problem(value)) is not None:
                raise ApiError(400, "invalid_field", f"{name}: {problem}", field=name)
        check_text(request, session, fields.get("caption", ""))
        if not received:
            raise ApiError(400, "invalid_field", "file: required", field="file")
        message = await request.app[SERVICE].relay.visitor_file(
            session, temp, filename=filename, caption=fields.get("caption") or None,
            client_message_id=fields.get("client_message_id") or None,
        )
    finally:
        temp.unlink(missing_ok=True)  # kept only if the store moved it into place
    return web.json_response(_linked(request.app, session, message_event(message)))


MULTIPART_OVERHEAD = 64 * 1024  # headers, boundaries and the small text fields around the file


async def _stream_to(part: BodyPartReader, path: Path, limit: int, too_large: ApiError) -> int:
    size = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        while chunk := await part.read_chunk(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise too_large
            out.write(chunk)
    return size


async def download_file(request: web.Request) -> web.StreamResponse:
    """The file, for its session: by a signed link from an event (an <img src>), or with the bearer token."""
    session_id = _session_param(request)
    not_found = ApiError(404, "file_not_found", "No such file in this chat.")
    try:
        attachment_id = parse_id(request.match_info["attachment_id"], "attachment_id")
    except ApiError:
        raise not_found from None
    if "sig" in request.query:
        if not request.app[CREDENTIALS].check_attachment(
                session_id, attachment_id, request.query.get("expires", ""), request.query["sig"]):
            raise ApiError(403, "link_expired", "This file link has expired or is not valid; reload the chat.")
        session = await request.app[SERVICE].visitors.session_by_id(session_id)
    else:
        session = await authenticate(request, session_id)
    try:
        attachment, path = await request.app[SERVICE].visitors.attachment_for(session, attachment_id)
    except ChatNotFound:
        raise not_found from None
    disposition = "inline" if attachment.content_type.startswith("image/") else "attachment"
    return web.FileResponse(path, headers={
        "Content-Type": attachment.content_type,
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(attachment.filename)}",
        "Cache-Control": "private, max-age=1800",
        "X-Content-Type-Options": "nosniff",
    })


async def rate_chat(request: web.Request) -> web.Response:
    body = await parse_body(request, RateBody)
    session = await authenticate(request, body.session_id)
    await request.app[SERVICE].relay.rate(session, body.support_chat_id, body.rating, body.comment)
    return web.json_response({"status": "rated", "rating": body.rating})


async def chat_state(request: web.Request) -> web.Response:
    session = await authenticate(request, _session_param(request))
    service = request.app[SERVICE]
    # "email": the widget offers the transcript by email only where SMTP is set up.
    return web.json_response({**await service.visitors.state(session), "email": service.transcripts.enabled,
                              "chips": service.assistant.quick_replies(session.locale)})


def _session_param(request: web.Request) -> str:
    try:
        return SessionBody(session_id=request.query.get("session_id", "")).session_id
    except ValidationError:
        raise ApiError(400, "invalid_field", "session_id: required", field="session_id") from None


def _seconds_param(request: web.Request, name: str, default: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, "invalid_field", f"{name}: must be a number", field=name) from None
    if not 0 <= value <= high:  # also refuses nan and inf
        raise ApiError(400, "invalid_field", f"{name}: must be between 0 and {high:g}", field=name)
    return value


def _read_events(request: web.Request, session: VisitorSession, after: int, limit: int = REPLAY_PAGE) -> Any:
    """The events after `after`, read once for all of the session's long-polls that ask at the same moment."""
    return request.app[SHARED_READS].read((session.id, after, limit),
                                          lambda: _load_events(request.app, session, after, limit))


async def _load_events(app: web.Application, session: VisitorSession, after: int, limit: int
                       ) -> list[dict[str, Any]]:
    return [_linked(app, session, event)
            for event in await app[SERVICE].visitors.events_after(session, after, limit=limit)]


def _linked(app: web.Application, session: VisitorSession, event: dict[str, Any]) -> dict[str, Any]:
    """The event with a short-lived signed link to its file, so no token needs to be put in a URL."""
    attachment = event.get("attachment")
    if not isinstance(attachment, dict) or "id" not in attachment:
        return event
    url = app[CREDENTIALS].attachment_path(session.session_id, int(attachment["id"]))
    return {**event, "attachment": {**attachment, "url": url}}


def _held(request: web.Request, session: VisitorSession) -> contextlib.AbstractContextManager[None]:
    return request.app[CAPS].hold(session.id, client_address(request, request.app[TRUSTED_PROXIES]))


async def events(request: web.Request) -> web.Response:
    """Long-poll: the events after `after` at once, or the next ones within `timeout` seconds."""
    session = await authenticate(request, _session_param(request))
    after = parse_int(request.query.get("after"), "after", default=0, low=0, high=MAX_ID)
    timeout = _seconds_param(request, "timeout", 25, LONG_POLL_MAX_SECONDS)
    hub = request.app[HUB]
    with _held(request, session):
        queue = hub.subscribe(session.id)  # before reading, so nothing stored in between is missed
        try:
            found = await _read_events(request, session, after)
            deadline = asyncio.get_running_loop().time() + timeout
            while not found:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=remaining)
                except TimeoutError:
                    break
                if item is None or isinstance(item, Committed):  # stored events, or shutdown: read again
                    found = await _read_events(request, session, after)
                    if request.app[_SHUTTING_DOWN].is_set():
                        break
        finally:
            hub.unsubscribe(session.id, queue)
    return web.json_response({"events": found})


async def websocket_ticket(request: web.Request) -> web.Response:
    """A single-use ticket, valid for a minute, to open the WebSocket: the token itself stays out of the URL."""
    body = await parse_body(request, SessionBody)
    session = await authenticate(request, body.session_id)
    credentials = request.app[CREDENTIALS]
    return web.json_response({"ticket": credentials.ticket(session.session_id),
                              "expires_in": credentials.ticket_seconds})


async def websocket(request: web.Request) -> web.StreamResponse:
    """GET /api/chat/ws: the widget's live connection. The token never goes into the URL; two ways to say who
    is calling: the first frame {"type": "auth", "session_id", "token", "after"}, answered {"type": "ready"}
    (one round trip fewer), or ?session_id=&ticket=&after= with a ticket from POST /api/chat/ws-ticket.

    The session's events reach the socket through its fan-out (widget/fanout.py); this coroutine, the one
    thing a held socket keeps besides aiohttp's own, only answers the widget's frames. Caps are counted by
    hand (no context managers): thousands of idle sockets each keep what their handler holds."""
    if "token" in request.query:
        raise ApiError(401, "token_in_url", "Never put the token in a URL: send it in the first frame.")
    app = request.app
    caps = app[CAPS]
    address = client_address(request, app[TRUSTED_PROXIES])
    caps.take_address(address)  # strangers' sockets, not yet authenticated, count against their address too
    try:
        ws = _socket()
        if "session_id" in request.query:
            session, after, replay = await _opened_by_ticket(request)
            caps.take_session(session.id)
            try:
                await ws.prepare(request)
            except BaseException:
                caps.give_session(session.id)
                raise
        else:
            await ws.prepare(request)
            opened = await _opened_by_first_frame(request, ws)
            if opened is None:
                return ws
            session, after, replay = opened
        live = app[LIVE_SOCKETS]
        try:
            live.join(session, ws, after, replay=replay)
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                reply = await _handle_client_frame(request, session, frame.data)
                if reply is not None:
                    await ws.send_json(reply)
        finally:
            live.leave(session.id, ws)
            caps.give_session(session.id)
        return ws
    finally:
        caps.give_address(address)


def _socket() -> web.WebSocketResponse:
    return web.WebSocketResponse(heartbeat=WS_HEARTBEAT_SECONDS, max_msg_size=64 * 1024)


async def _opened_by_ticket(request: web.Request) -> tuple[VisitorSession, int, bool]:
    session_id = _session_param(request)
    ticket = request.query.get("ticket", "")
    if not ticket:
        raise ApiError(401, "missing_ticket", "Open the socket with a ticket from POST /api/chat/ws-ticket.")
    if not request.app[CREDENTIALS].redeem(session_id, ticket):
        raise ApiError(401, "invalid_ticket", "The ticket is used, expired or not for this session; get a new one.")
    after = parse_int(request.query.get("after"), "after", default=0, low=0, high=MAX_ID)
    wakes = request.app[HUB].wakes
    session, last_event = await request.app[SERVICE].visitors.session_with_last_event(session_id, by_ticket=True)
    return session, after, _replay_needed(request, wakes, after, last_event)


async def _opened_by_first_frame(request: web.Request, ws: web.WebSocketResponse
                                 ) -> tuple[VisitorSession, int, bool] | None:
    """The session the first frame authenticates, once "ready" is sent; None once refused and closed."""
    try:
        async with asyncio.timeout(WS_AUTH_SECONDS):
            frame = await ws.receive()
        session_id, token, after = _auth_frame(frame)
        wakes = request.app[HUB].wakes
        session, last_event = await request.app[SERVICE].visitors.session_with_last_event(session_id, token)
        request.app[CAPS].take_session(session.id)
    except TimeoutError:
        await ws.close(code=4408, message=b"auth_timeout")
        return None
    except Exception as exc:
        error = as_api_error(exc)
        if error is None:
            raise
        # The reason as an error frame (as the HTTP API would answer it), then a close code of 4000 + status.
        with contextlib.suppress(ConnectionError):
            await ws.send_json({"type": "error", **error.body()})
        await ws.close(code=4000 + error.status, message=error.code.encode()[:100])
        return None
    try:
        await ws.send_json({"type": "ready"})
    except BaseException:
        request.app[CAPS].give_session(session.id)
        raise
    # No await between this check and the caller's join: nothing can be stored unseen in between.
    return session, after, _replay_needed(request, wakes, after, last_event)


def _replay_needed(request: web.Request, wakes_before_read: int, after: int, last_event: int | None) -> bool:
    """Whether the client may lack stored events: it is behind the newest one read with its session, or
    something was stored (a wake-up) after that read and before the socket listened."""
    return last_event is None or after < last_event or request.app[HUB].wakes != wakes_before_read


def _auth_frame(frame: WSMessage) -> tuple[str, str, int]:
    """session_id, token and after from the socket's first frame (ApiError if it is not an auth frame)."""
    if frame.type != WSMsgType.TEXT:
        raise ApiError(401, "missing_token", 'The first frame must be {"type": "auth", "session_id", "token"}.')
    try:
        data = json.loads(frame.data)
    except (json.JSONDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict) or data.get("type") != "auth":
        raise ApiError(401, "missing_token", 'The first frame must be {"type": "auth", "session_id", "token"}.')
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise ApiError(401, "missing_token", "token: required")
    try:
        session_id = SessionBody(session_id=data.get("session_id")).session_id
    except ValidationError:
        raise ApiError(400, "invalid_field", "session_id: required", field="session_id") from None
    after = data.get("after", 0)
    if type(after) is not int or not 0 <= after <= MAX_ID:
        raise ApiError(400, "invalid_field", f"after: must be an integer between 0 and {MAX_ID}", field="after")
    return session_id, token, after


async def _handle_client_frame(request: web.Request, session: VisitorSession, data: str) -> dict[str, Any] | None:
    """One frame from the widget. Whatever is wrong with it answers an error frame; the socket stays open."""
    try:
        frame = json.loads(data)
    except (json.JSONDecodeError, RecursionError):
        frame = None
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
        return {"type": "error", "error": "unknown_type", "message": f"Unknown frame type {str(kind)[:40]!r}."}
    client_message_id = frame.get("client_message_id")
    echo = {"client_message_id": client_message_id if isinstance(client_message_id, str) else None}
    try:
        body = SendMessageBody.model_validate({**frame, "session_id": session.session_id})
        check_text(request, session, body.text)
        message = await request.app[SERVICE].relay.visitor_message(
            session, body.text, client_message_id=body.client_message_id
        )
    except ValidationError as exc:
        field, text = first_problem(exc)
        error_body = {"error": "invalid_field", "message": text, "field": field}
        return {"type": "error", **localise(error_body, session.locale), **echo}
    except Exception as exc:
        error = as_api_error(exc)
        if error is None:
            log.exception("Unhandled error in a widget WebSocket frame")
            error = ApiError(500, "internal_error", "Something went wrong on our side.")
        # A socket carries no Accept-Language: the session's own language decides.
        return {"type": "error", **localise(error.body(), session.locale), **echo}
    return {"type": "ack", "client_message_id": body.client_message_id, "id": message.id}


async def close_websockets(app: web.Application) -> None:
    """on_shutdown: tell live widgets we are going away, so they reconnect (and resume) elsewhere."""
    app[_SHUTTING_DOWN].set()
    await app[LIVE_SOCKETS].close()
    app[HUB].close_all()  # the long-polls answer at once


START_LIMITER = web.AppKey("start_limiter", RateLimiter)


def setup_api(app: web.Application) -> None:
    app[_SHUTTING_DOWN] = asyncio.Event()
    http = app[SETTINGS].http
    app[START_LIMITER] = RateLimiter(http.sessions_per_minute)
    app[CAPS] = ConnectionCaps(http.connections_per_session, http.connections_per_address)
    app[SHARED_READS] = SharedReads()
    app[TRUSTED_PROXIES] = parse_networks(http.trusted_proxies)
    app[CREDENTIALS] = Credentials(signing_secret(http.link_secret, app[SETTINGS].telegram.bot_token))
    app[RATE_LIMITER] = RateLimiter(app[SETTINGS].support.messages_per_minute)
    app[LIVE_SOCKETS] = LiveSockets(app[HUB], functools.partial(_load_events, app), functools.partial(_linked, app))
    app.router.add_post("/api/chat/start", start_chat)
    app.router.add_post("/api/chat/send-message", send_message)
    app.router.add_post("/api/chat/transfer-to-manager", transfer_to_manager)
    app.router.add_get("/api/chat/state", chat_state)
    app.router.add_post("/api/chat/rate", rate_chat)
    app.router.add_post("/api/chat/upload", upload_file)
    app.router.add_get("/api/chat/attachments/{attachment_id}", download_file)
    app.router.add_get("/api/chat/events", events)
    app.router.add_get("/api/chat/ws", websocket)
    app.router.add_post("/api/chat/ws-ticket", websocket_ticket)
    app.on_shutdown.append(close_websockets)
    app.middlewares.append(localised_errors)  # innermost: it sees the handlers' own refusals
