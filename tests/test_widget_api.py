"""The widget API's contract for bad input: a precise JSON error, never a lost or corrupted message."""

from __future__ import annotations

import aiohttp
import pytest

from models import ChatMessage, VisitorSession
from support.notify import ClusterEventHub
from tests.clients import Visitor, ws_receive_until
from tests.conftest import Desk


async def error_of(response: aiohttp.ClientResponse) -> tuple[int, str]:
    assert response.content_type == "application/json", await response.text()
    body = await response.json()
    assert set(body) >= {"error", "message"} and body["message"]
    return response.status, body["error"]


async def test_start_returns_an_unguessable_token_stored_only_as_a_hash(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start(page_url="https://ilpo-taxi.ru/", locale="en-US",
                                                            name="Ivan", phone="+7 (900) 000-00-00")
    row = await VisitorSession.aio_get(VisitorSession.session_id == visitor.session_id)
    assert len(visitor.token) >= 40 and visitor.token not in row.token_hash
    assert row.locale == "en" and row.name == "Ivan"
    other = await Visitor(desk.http, desk.base_url).start()
    assert other.token != visitor.token and other.session_id != visitor.session_id


@pytest.mark.parametrize(("body", "expected"), [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_json"),
    ('{"session_id": "x"}', "invalid_field"),
    ('{"session_id": "x", "text": "   "}', "invalid_field"),
    ('{"session_id": "x", "text": 5}', "invalid_field"),
])
async def test_malformed_bodies_are_400(desk: Desk, body: str, expected: str) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    async with desk.http.post(f"{desk.base_url}/api/chat/send-message", data=body, headers=visitor.auth) as r:
        assert await error_of(r) == (400, expected)
    assert await ChatMessage.select().aio_count() == 0


async def test_tokens_and_sessions_are_checked(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    url = f"{desk.base_url}/api/chat/send-message"
    body = {"session_id": visitor.session_id, "text": "привет"}
    async with desk.http.post(url, json=body) as response:
        assert await error_of(response) == (401, "missing_token")
    async with desk.http.post(url, json=body, headers={"Authorization": "Bearer wrong"}) as response:
        assert await error_of(response) == (403, "invalid_token")
    async with desk.http.post(url, json={**body, "session_id": "nope"}, headers=visitor.auth) as response:
        assert await error_of(response) == (404, "session_not_found")
    other = await Visitor(desk.http, desk.base_url).start()
    async with desk.http.post(url, json=body, headers=other.auth) as response:  # someone else's token
        assert await error_of(response) == (403, "invalid_token")
    async with desk.http.get(f"{desk.base_url}/api/chat/events", params={"session_id": visitor.session_id},
                             headers=other.auth) as response:
        assert await error_of(response) == (403, "invalid_token")
    assert await ChatMessage.select().aio_count() == 0


async def test_too_long_is_413_and_too_fast_is_429(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    url = f"{desk.base_url}/api/chat/send-message"
    async with desk.http.post(url, json={"session_id": visitor.session_id, "text": "я" * 4001},
                              headers=visitor.auth) as response:
        assert await error_of(response) == (413, "message_too_long")
    limit = desk.product.settings.support.messages_per_minute
    statuses = []
    for n in range(limit + 2):
        async with desk.http.post(url, json={"session_id": visitor.session_id, "text": f"m{n}"},
                                  headers=visitor.auth) as response:
            statuses.append(response.status)
            if response.status == 429:
                body = await response.json()
                assert body["error"] == "too_many_messages" and body["retry_after"] >= 1
    assert statuses.count(200) == limit and statuses[-1] == 429
    assert await ChatMessage.select().where(ChatMessage.sender == "user").aio_count() == limit


async def test_transfer_validates_contact_fields(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    url = f"{desk.base_url}/api/chat/transfer-to-manager"
    for bad in ({"phone": "call me"}, {"phone": "12"}, {"name": "A"}, {"name": "x" * 101}):
        async with desk.http.post(url, json={"session_id": visitor.session_id, **bad},
                                  headers=visitor.auth) as response:
            status, code = await error_of(response)
            assert (status, code) == (400, "invalid_field"), bad
    assert (await visitor.state())["mode"] == "ai"


async def test_long_poll_parameters_are_bounded(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    for params in ({"timeout": "31"}, {"timeout": "soon"}, {"after": "-1"}):
        async with desk.http.get(f"{desk.base_url}/api/chat/events", headers=visitor.auth,
                                 params={"session_id": visitor.session_id, **params}) as response:
            assert (await error_of(response))[0] == 400
    async with desk.http.get(f"{desk.base_url}/api/chat/events", headers=visitor.auth) as response:
        assert await error_of(response) == (400, "invalid_field")


async def test_unknown_routes_and_methods_answer_json(desk: Desk) -> None:
    async with desk.http.get(f"{desk.base_url}/api/chat/nothing-here") as response:
        assert await error_of(response) == (404, "not_found")
    async with desk.http.get(f"{desk.base_url}/api/chat/send-message") as response:
        assert await error_of(response) == (405, "method_not_allowed")


async def test_cross_origin_widget_calls_are_allowed(desk: Desk) -> None:
    async with desk.http.options(f"{desk.base_url}/api/chat/start", headers={
            "Origin": "https://partner.example", "Access-Control-Request-Method": "POST"}) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    async with desk.http.post(f"{desk.base_url}/api/chat/start", json={},
                              headers={"Origin": "https://partner.example"}) as response:
        assert response.status == 201 and response.headers["Access-Control-Allow-Origin"] == "*"


async def test_websocket_rejects_bad_tokens_and_bad_frames(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await desk.http.ws_connect((await visitor.ws_url()).replace("ticket=", "ticket=0"))
    assert handshake.value.status == 401
    async with desk.http.ws_connect(await visitor.ws_url()) as ws:
        await ws.send_str("{not json")
        assert (await ws_receive_until(ws, lambda f: f["type"] == "error"))[-1]["error"] == "invalid_json"
        await ws.send_json({"type": "subscribe"})
        assert (await ws_receive_until(ws, lambda f: f["type"] == "error"))[-1]["error"] == "unknown_type"
        await ws.send_json({"type": "user_message", "text": "я" * 5000, "client_message_id": "big"})
        frame = (await ws_receive_until(ws, lambda f: f["type"] == "error"))[-1]
        assert frame["error"] == "message_too_long" and frame["client_message_id"] == "big"
        await ws.send_json({"type": "user_message", "text": "   "})
        assert (await ws_receive_until(ws, lambda f: f["type"] == "error"))[-1]["error"] == "invalid_field"
    assert await ChatMessage.select().aio_count() == 0


async def test_websocket_gets_this_processs_rows_from_memory_and_catches_up_on_rows_from_elsewhere(
        desk: Desk) -> None:
    """A row another process committed (its wake-up still on the way) with a lower id than one committed here is
    not skipped: the wake-up's re-read brings it, and the row already pushed from memory is not sent twice. Where
    processes share the database (PostgreSQL's cluster hub), a commit here is read back instead, in id order."""
    visitor = await Visitor(desk.http, desk.base_url).start()
    session = await VisitorSession.aio_get(VisitorSession.session_id == visitor.session_id)
    store = desk.service.store
    async with desk.http.ws_connect(await visitor.ws_url()) as ws:
        await ws.send_json({"type": "ping"})
        await ws_receive_until(ws, lambda f: f["type"] == "pong")  # the socket is listening
        elsewhere = await ChatMessage.aio_create(session=session.id, sender="system", text="из другого процесса")
        async with store.change() as change:
            here = await change.system_message(session, None, "отсюда")
        assert here.id > elsewhere.id
        frames = await ws_receive_until(ws, lambda f: f.get("text") == "отсюда")
        if isinstance(store.hub, ClusterEventHub):
            # Processes share this database: a commit here is read back, so the lower id comes first.
            assert [f["id"] for f in frames] == [elsewhere.id, here.id]
            return
        assert [f["id"] for f in frames] == [here.id]  # from memory, before the other process's wake-up
        store.hub.wake(session.id)  # that wake-up arrives
        frames = await ws_receive_until(ws, lambda f: f.get("text") == "из другого процесса")
        await ws.send_json({"type": "ping"})
        frames += await ws_receive_until(ws, lambda f: f["type"] == "pong")
    assert [f.get("id") for f in frames] == [elsewhere.id, None]


async def test_session_creation_is_rate_limited_per_address(desk: Desk) -> None:
    statuses = []
    for _ in range(32):
        async with desk.http.post(f"{desk.base_url}/api/chat/start", json={}) as response:
            statuses.append(response.status)
            if response.status == 429:
                assert (await response.json())["error"] == "too_many_sessions"
    assert statuses.count(201) == 30 and statuses[-1] == 429


async def test_websocket_replays_a_long_history_in_full(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    session = await VisitorSession.aio_get(VisitorSession.session_id == visitor.session_id)
    for n in range(450):  # longer than one replay page
        await ChatMessage.aio_create(session=session.id, sender="user", text=f"m{n}")
    async with desk.http.ws_connect(await visitor.ws_url()) as ws:
        frames = await ws_receive_until(ws, lambda f: f.get("text") == "m449")
    assert [f["text"] for f in frames] == [f"m{n}" for n in range(450)]
