"""Who the visitor is and what they look at: `ILPO.identify(...)` and page views, for one history across devices
and the context on the manager's card. Thin handlers over support.visitors."""

from __future__ import annotations

from aiohttp import web

from support.contracts import IdentityConflict, IdentityRefused, IdentityRequired
from support.service import SERVICE
from support.visitors import IdentityClaim
from widget.api import api_error, authenticate, parse_body
from widget.schemas import IdentifyBody, VisitBody


async def identify(request: web.Request) -> web.Response:
    body = await parse_body(request, IdentifyBody)
    session = await authenticate(request, body.session_id)
    claim = IdentityClaim(external_id=body.id, name=body.name, phone=body.phone, email=body.email, hash=body.hash)
    try:
        verified = await request.app[SERVICE].visitors.identify(session, claim)
    except IdentityRefused:
        raise api_error(401, "invalid_identity", "The identity hash does not match this id.") from None
    except IdentityRequired:
        raise api_error(401, "identity_required", "This site accepts only verified ids: send the hash.") from None
    except IdentityConflict:
        raise api_error(409, "identity_conflict", "This chat belongs to another user; start a new one.") from None
    return web.json_response({"verified": verified})


async def page_view(request: web.Request) -> web.Response:
    body = await parse_body(request, VisitBody)
    session = await authenticate(request, body.session_id)
    await request.app[SERVICE].visitors.visit(session, body.url, body.title)
    return web.json_response({"status": "ok"})


def setup_identity(app: web.Application) -> None:
    app.router.add_post("/api/chat/identify", identify)
    app.router.add_post("/api/chat/visit", page_view)
