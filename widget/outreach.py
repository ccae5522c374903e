"""The widget's proactive greetings and transcript-by-email endpoints (use cases: support/greetings.py and
support/transcripts.py)."""

from __future__ import annotations

import re
from typing import Literal

from aiohttp import web
from pydantic import Field

from support.contracts import ChatNotFound
from support.service import SERVICE
from support.transcripts import InvalidEmail, TooManyTranscripts
from webhook.http_api import ApiError, parse_id
from widget.api import api_error, authenticate, parse_body
from widget.schemas import SessionBody, _Body

VISITOR_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class GreetingEventBody(_Body):
    visitor: str = Field(pattern=VISITOR_RE.pattern)
    rule_id: int = Field(ge=1)
    event: Literal["shown", "opened", "chat"]


class TranscriptBody(SessionBody):
    email: str = Field(max_length=320)


async def greeting(request: web.Request) -> web.Response:
    """Which greeting this page gets: the rule's text, delay and whether to open on desktop, or null."""
    visitor, url = request.query.get("visitor", ""), request.query.get("url", "")
    if not VISITOR_RE.match(visitor):
        raise api_error(400, "invalid_field", "visitor: 8 to 64 letters, digits, - or _", field="visitor")
    if not url or len(url) > 2000:
        raise api_error(400, "invalid_field", "url: required, at most 2000 characters", field="url")
    rule = await request.app[SERVICE].greetings.applicable(visitor, url, returning=request.query.get("returning")
                                                           == "1")
    if rule is None:
        return web.json_response({"greeting": None})
    return web.json_response({"greeting": {"rule_id": rule.id, "text": rule.text, "delay_seconds": rule.delay_seconds,
                                           "open_on_desktop": rule.open_on_desktop}})


async def greeting_event(request: web.Request) -> web.Response:
    """shown: claim today's show (409 when it was already shown); opened / chat: what came of it."""
    body = await parse_body(request, GreetingEventBody)
    greetings = request.app[SERVICE].greetings
    if body.event == "shown":
        if not await greetings.shown(body.visitor, body.rule_id):
            raise api_error(409, "already_shown", "This greeting was already shown to this visitor today.")
        return web.json_response({"status": "shown"}, status=201)
    mark = greetings.opened if body.event == "opened" else greetings.chatted
    return web.json_response({"status": body.event, "counted": await mark(body.visitor, body.rule_id)})


async def transcript(request: web.Request) -> web.Response:
    body = await parse_body(request, TranscriptBody)
    session = await authenticate(request, body.session_id)
    transcripts = request.app[SERVICE].transcripts
    if not transcripts.enabled:
        raise api_error(404, "email_unavailable", "Sending conversations by email is not set up on this server.")
    try:
        await transcripts.request(session, body.email)
    except InvalidEmail:
        raise api_error(400, "invalid_field", "email: not a valid address", field="email") from None
    except TooManyTranscripts:
        raise api_error(429, "too_many_emails", "This conversation was already sent by email several times.") from None
    return web.json_response({"status": "queued"}, status=202)


async def signed_file(request: web.Request) -> web.StreamResponse:
    """A file linked from a transcript email: the signature stands in for the session's token."""
    try:
        attachment_id = parse_id(request.match_info["attachment_id"], "attachment_id")
        attachment, path = await request.app[SERVICE].transcripts.signed_file(attachment_id,
                                                                              request.query.get("sig", ""))
    except (ApiError, ChatNotFound):
        raise api_error(404, "file_not_found", "No such file, or the link is not valid.") from None
    return web.FileResponse(path, headers={  # type: ignore[arg-type]
        "Content-Type": attachment.content_type,
        "Content-Disposition": "attachment",
        "X-Content-Type-Options": "nosniff",
    })


def setup_outreach(app: web.Application) -> None:
    app.router.add_get("/api/chat/greeting", greeting)
    app.router.add_post("/api/chat/greeting", greeting_event)
    app.router.add_post("/api/chat/transcript", transcript)
    app.router.add_get("/api/chat/files/{attachment_id}", signed_file)
