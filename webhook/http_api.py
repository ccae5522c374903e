"""What the widget API and the chats API share: one error middleware, and safe readers of hostile input.

Handlers raise `ApiError` for problems of the request itself and let `SupportError`s fly; the middleware is
the one place both become `{"error", "message"}` JSON with a status chosen by the error's code. Input that a
careless parse would turn into a 500 (huge ids, non-ASCII tokens, NUL characters, deep JSON) is refused here.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import peewee
from aiohttp import web
from aiohttp.typedefs import Handler

from support.attachments import AttachmentRejected
from support.contracts import SupportError

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # the largest id a BIGINT column holds, on both databases
DATABASE_RETRY_AFTER_SECONDS = 5

# SupportError.code (and AttachmentRejected.code) → HTTP status; the one mapping for every JSON API.
STATUS_BY_CODE: dict[str, int] = {
    "session_not_found": 404, "chat_not_found": 404, "file_not_found": 404,
    "invalid_token": 403, "forbidden": 403, "session_expired": 401,
    "already_taken": 409, "chat_closed": 409, "already_rated": 409,
    "file_too_large": 413, "unsupported_file": 415, "empty_file": 400,
}
DEFAULT_MESSAGES: dict[str, str] = {
    "session_not_found": "Unknown session; start a new one.",
    "invalid_token": "The token does not match this session.",
    "session_expired": "This chat session has expired; start a new one.",
    "chat_not_found": "No such chat.",
    "forbidden": "Not allowed.",
    "already_taken": "Another manager has this chat already.",
    "chat_closed": "The chat is closed already.",
    "already_rated": "This chat was already rated, or cannot be rated.",
}


class ApiError(Exception):
    """A refused request: its status, a stable machine code, a sentence for people, and extra JSON fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}

    def response(self) -> web.Response:
        headers = {"Retry-After": str(self.extra["retry_after"])} if "retry_after" in self.extra else None
        return web.json_response(self.body(), status=self.status, headers=headers,
                                 dumps=lambda value: json.dumps(value, ensure_ascii=False))


class DatabaseUnavailable(Exception):
    """The database cannot be reached or written right now; callers answer 503 and say when to retry."""


# What a database outage looks like from here: the driver's connection errors, a locked SQLite file,
# a pool that could not hand out a connection in time.
DATABASE_OUTAGES: tuple[type[BaseException], ...] = (
    peewee.OperationalError, peewee.InterfaceError, sqlite3.OperationalError, DatabaseUnavailable,
    ConnectionRefusedError,
)
try:  # PostgreSQL's driver is optional for a SQLite-only install
    import psycopg2

    DATABASE_OUTAGES += (psycopg2.OperationalError, psycopg2.InterfaceError)
except ImportError:  # pragma: no cover
    pass


def as_api_error(exc: BaseException) -> ApiError | None:
    """The JSON error a known exception stands for, or None for a real bug."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AttachmentRejected):
        return ApiError(STATUS_BY_CODE.get(exc.code, 400), exc.code, exc.message)
    if isinstance(exc, SupportError):
        message = str(exc) if type(exc).__init__ is SupportError.__init__ and str(exc) else ""
        return ApiError(STATUS_BY_CODE.get(exc.code, 400), exc.code,
                        message or DEFAULT_MESSAGES.get(exc.code, "The request was refused."))
    if isinstance(exc, DATABASE_OUTAGES) or (
        # Both pools say so when closed: the database went away or the process is shutting down.
        isinstance(exc, RuntimeError) and str(exc).startswith("Cannot acquire connection")
    ):
        return ApiError(503, "database_unavailable", "The service is briefly unavailable; try again shortly.",
                        retry_after=DATABASE_RETRY_AFTER_SECONDS)
    return None


CLIENT_CLOSED_REQUEST = 499  # nginx's name for it: nobody reads this answer, the access log does


def is_disconnect(exc: BaseException) -> bool:
    """The client went away mid-request (aiohttp's reader raises ConnectionResetError): not our error."""
    return isinstance(exc, ConnectionResetError)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API clients always get JSON: a refused request, a route that does not exist, an outage or a crash."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status, "http_error")
        response = web.json_response({"error": code, "message": exc.reason}, status=exc.status)
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        return response
    except Exception as exc:
        if (error := as_api_error(exc)) is not None:
            if error.status == 503:
                log.warning("Database unavailable in %s %s: %s", request.method, request.path, exc)
            return error.response()
        if is_disconnect(exc):
            log.debug("Client went away during %s %s: %r", request.method, request.path, exc)
            return web.Response(status=CLIENT_CLOSED_REQUEST)
        log.exception("Unhandled error in %s %s", request.method, request.path)
        return web.json_response({"error": "internal_error", "message": "Something went wrong on our side."},
                                 status=500)


# --- readers of hostile input --------------------------------------------------------------------------


def bearer_token(request: web.Request, *, query_fallback: bool = False) -> str | None:
    """The `Authorization: Bearer` value, or None. A token is printable ASCII: anything else can match nothing."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token: str | None = header[7:].strip()
    elif query_fallback:
        token = request.query.get("token")
    else:
        token = None
    if token and not (token.isascii() and token.isprintable()):
        raise ApiError(401, "invalid_token", "A token is printable ASCII.")
    return token or None


def parse_id(raw: str | None, field: str, *, missing: ApiError | None = None) -> int:
    """A positive database id from a path or query: digits only, within 64 bits (else 400, never a 500)."""
    if raw is None or raw == "":
        raise missing or ApiError(400, "invalid_field", f"{field}: required", field=field)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= MAX_ID:
        raise ApiError(400, "invalid_field", f"{field}: a positive integer id", field=field)
    return int(raw)


def parse_int(raw: str | None, field: str, *, default: int, low: int, high: int) -> int:
    """A whole number from a query string; "1.5" and "1e999" are refused, not truncated."""
    if raw is None or raw == "":
        return default
    text = raw.strip()
    digits = text[1:] if text[:1] == "-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        raise ApiError(400, "invalid_field", f"{field}: an integer", field=field)
    value = int(text)
    if not low <= value <= high:
        raise ApiError(400, "invalid_field", f"{field}: between {low} and {high}", field=field)
    return value


async def read_json(request: web.Request) -> Any:
    """The body as JSON (None when empty): malformed, too deeply nested or not UTF-8 is a 400."""
    if not request.body_exists:
        return None
    try:
        text = await request.text()
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, LookupError, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
