"""Credentials stay out of URLs and do not live forever: signed file links, single-use socket tickets,
sessions that expire after being idle."""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest

from models import VisitorSession, utcnow
from tests.clients import Visitor
from tests.conftest import Desk

PDF = b"%PDF-1.4\n" + b"1" * 500


async def _uploaded(visitor: Visitor) -> dict[str, object]:
    form = aiohttp.FormData()
    form.add_field("file", PDF, filename="a.pdf", content_type="application/pdf")
    async with visitor.http.post(f"{visitor.base_url}/api/chat/upload", data=form, headers=visitor.auth,
                                 params={"session_id": visitor.session_id}) as response:
        assert response.status == 200, await response.text()
        return dict((await response.json())["attachment"])


async def test_file_links_are_signed_short_lived_and_token_free(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    attachment = await _uploaded(visitor)
    link = str(attachment["url"])
    assert visitor.token not in link and "sig=" in link and "expires=" in link
    async with desk.http.get(desk.base_url + link) as response:
        assert response.status == 200 and await response.read() == PDF
    # The same link replayed in the event stream is signed too.
    (event,) = [e for e in await visitor.poll(after=0) if "attachment" in e]
    assert "sig=" in event["attachment"]["url"]
    for tampered in (link.replace("sig=", "sig=0"), link.replace("expires=", "expires=1"),
                     link.replace(visitor.session_id, (await Visitor(desk.http, desk.base_url).start()).session_id)):
        async with desk.http.get(desk.base_url + tampered) as response:
            assert response.status == 403 and (await response.json())["error"] == "link_expired", tampered
    # The token is no longer accepted in a URL at all.
    async with desk.http.get(f"{desk.base_url}/api/chat/attachments/{attachment['id']}",
                             params={"session_id": visitor.session_id, "token": visitor.token}) as response:
        assert response.status == 401


async def test_socket_tickets_are_single_use_and_bound_to_their_session(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    url = await visitor.ws_url()
    assert visitor.token not in url
    async with desk.http.ws_connect(url) as ws:
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=5))["type"] == "pong"
    with pytest.raises(aiohttp.WSServerHandshakeError) as again:
        await desk.http.ws_connect(url)
    assert again.value.status == 401
    other = await Visitor(desk.http, desk.base_url).start()
    with pytest.raises(aiohttp.WSServerHandshakeError) as elsewhere:
        await desk.http.ws_connect((await visitor.ws_url()).replace(visitor.session_id, other.session_id))
    assert elsewhere.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as by_token:
        await desk.http.ws_connect(f"{desk.base_url}/api/chat/ws?session_id={visitor.session_id}"
                                   f"&token={visitor.token}")
    assert by_token.value.status == 401


async def test_an_idle_session_expires_with_401(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    await visitor.send("привет")
    await VisitorSession.update(last_seen_at=utcnow() - dt.timedelta(days=31)).where(
        VisitorSession.session_id == visitor.session_id).aio_execute()
    async with desk.http.get(f"{desk.base_url}/api/chat/state", headers=visitor.auth,
                             params={"session_id": visitor.session_id}) as response:
        assert response.status == 401 and (await response.json())["error"] == "session_expired"
    fresh = await Visitor(desk.http, desk.base_url).start()
    assert (await fresh.send("снова я"))["text"] == "снова я"


def test_redeemed_tickets_are_forgotten_once_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remembering used tickets costs memory only for their lifetime, and a used one is never taken again."""
    import widget.credentials as module

    clock = [1_000_000.0]
    monkeypatch.setattr(module.time, "time", lambda: clock[0])
    credentials = module.Credentials("secret", ticket_seconds=60)
    tickets = [credentials.ticket("session-a") for _ in range(1000)]
    assert all(credentials.redeem("session-a", ticket) for ticket in tickets)
    assert not any(credentials.redeem("session-a", ticket) for ticket in tickets)
    assert not credentials.redeem("session-b", credentials.ticket("session-a"))
    assert credentials._remembered == 1000
    clock[0] += 61
    fresh = credentials.ticket("session-a")
    assert credentials.redeem("session-a", fresh) and not credentials.redeem("session-a", tickets[0])
    assert credentials._remembered == 1 and list(credentials._redeemed) == [int(clock[0]) + 60]
    expires, nonce, _ = fresh.split(".")
    far = f"{int(expires) + 3600}.{nonce}.{credentials._sign('ws', 'session-a', int(expires) + 3600, nonce)}"
    assert not credentials.redeem("session-a", far)  # longer-lived than this desk issues: not ours


def test_remembered_tickets_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    import widget.credentials as module

    monkeypatch.setattr(module, "MAX_REMEMBERED_TICKETS", 3)
    credentials = module.Credentials("secret")
    assert [credentials.redeem("s", credentials.ticket("s")) for _ in range(4)] == [True, True, True, False]
