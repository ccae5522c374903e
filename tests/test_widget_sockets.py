"""The widget's socket opened in one round trip: the token in the first frame (never the URL), answered "ready",
then only what the client lacks; refusals as an error frame and a 4xxx close code."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import aiohttp
import pytest

from models import ChatMessage, VisitorSession, utcnow
from support.events import Committed
from tests.clients import Visitor, is_type, ws_receive_until
from tests.conftest import Desk


async def _opened(visitor: Visitor, after: int = 0, **frame: Any) -> aiohttp.ClientWebSocketResponse:
    ws = await visitor.http.ws_connect(f"{visitor.base_url}/api/chat/ws")
    await ws.send_json({"type": "auth", "session_id": visitor.session_id, "token": visitor.token, "after": after,
                        **frame})
    return ws


async def _refusal(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, int]:
    """The error frame's code and the close code that follows it."""
    message = await ws.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    error = json.loads(message.data)
    assert error["type"] == "error"
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE, closing
    return error["error"], int(closing.data)


async def test_the_first_frame_authenticates_and_the_replay_follows_ready(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    first = await visitor.send("привет")
    async with await _opened(visitor) as ws:
        frames = await ws_receive_until(ws, lambda f: f.get("id") == first["id"])
        assert frames[0] == {"type": "ready"} and frames[-1]["text"] == "привет"
        second = await visitor.send("ещё")
        await ws_receive_until(ws, lambda f: f.get("id") == second["id"])
        await ws.send_json({"type": "user_message", "text": "по сокету", "client_message_id": "c-1"})
        await ws_receive_until(ws, lambda f: f.get("type") == "ack" and f["client_message_id"] == "c-1")


async def test_a_client_that_has_everything_gets_no_replay_and_a_lagging_one_gets_the_rest(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    await visitor.send("раз")
    await visitor.wait_for(is_type("ai_message"))  # the answer comes on its own, after the send
    newest = visitor.last_id
    async with await _opened(visitor, after=newest) as ws:
        assert (await ws.receive_json(timeout=5)) == {"type": "ready"}
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=5)) == {"type": "pong"}  # nothing replayed before it
    # Stored without any wake-up (as by another process whose notice is late): the read at open finds it.
    session = await VisitorSession.aio_get(VisitorSession.session_id == visitor.session_id)
    quiet = await ChatMessage.aio_create(session=session.id, sender="user", text="тихо")
    async with await _opened(visitor, after=newest) as ws:
        frames = await ws_receive_until(ws, lambda f: f.get("id") == quiet.id)
        assert [f.get("text") for f in frames[1:]] == ["тихо"]


async def test_sockets_opened_both_ways_share_the_sessions_events(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    async with await _opened(visitor) as by_frame, desk.http.ws_connect(await visitor.ws_url()) as by_ticket:
        assert (await by_frame.receive_json(timeout=5)) == {"type": "ready"}
        sent = await visitor.send("обоим")
        for ws in (by_frame, by_ticket):
            frames = await ws_receive_until(ws, lambda f: f.get("id") == sent["id"])
            assert [f["id"] for f in frames].count(sent["id"]) == 1


@pytest.mark.parametrize(("change", "error", "close_code"), [
    ({"token": "0" * 43}, "invalid_token", 4403),
    ({"token": ""}, "missing_token", 4401),
    ({"session_id": "f" * 32}, "session_not_found", 4404),
    ({"type": "ping"}, "missing_token", 4401),
    ({"after": -1}, "invalid_field", 4400),
])
async def test_a_wrong_first_frame_is_refused_and_closed(desk: Desk, change: dict[str, Any], error: str,
                                                         close_code: int) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    async with await _opened(visitor, **change) as ws:
        assert await _refusal(ws) == (error, close_code)


async def test_an_expired_session_is_refused_on_the_socket_too(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    await VisitorSession.update(last_seen_at=utcnow() - dt.timedelta(days=31)).where(
        VisitorSession.session_id == visitor.session_id).aio_execute()
    async with await _opened(visitor) as ws:
        assert await _refusal(ws) == ("session_expired", 4401)


async def test_a_silent_socket_is_closed_and_strangers_count_against_their_address(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    import widget.api

    monkeypatch.setattr(widget.api, "WS_AUTH_SECONDS", 0.3)
    async with desk.http.ws_connect(f"{desk.base_url}/api/chat/ws") as ws:
        closing = await ws.receive(timeout=5)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4408)
    caps = desk.product.runner.app[widget.api.CAPS]
    monkeypatch.setattr(caps, "per_address", 1)
    async with desk.http.ws_connect(f"{desk.base_url}/api/chat/ws"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await desk.http.ws_connect(f"{desk.base_url}/api/chat/ws")
        assert refused.value.status == 429


async def test_the_token_is_never_taken_from_the_url(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await desk.http.ws_connect(f"{desk.base_url}/api/chat/ws?token={visitor.token}")
    assert refused.value.status == 401
    async with await _opened(visitor) as ws:
        await ws_receive_until(ws, is_type("ready"))


async def test_wake_ups_and_ephemeral_events_reach_a_socket_in_the_order_they_came(desk: Desk) -> None:
    from support.events import HUB

    visitor = await Visitor(desk.http, desk.base_url).start()
    session = await VisitorSession.aio_get(VisitorSession.session_id == visitor.session_id)
    hub = desk.product.runner.app[HUB]
    async with await _opened(visitor) as ws:
        assert (await ws.receive_json(timeout=5)) == {"type": "ready"}
        stored = await ChatMessage.aio_create(session=session.id, sender="user", text="между")
        hub.publish_ephemeral(session.id, {"type": "typing", "author": "manager", "active": True})
        hub.wake(session.id)  # the stored row is read from the database: slower than the events around it
        hub.publish_ephemeral(session.id, {"type": "typing", "author": "manager", "active": False})
        frames = await ws_receive_until(ws, lambda f: f.get("active") is False)
        assert [(f["type"], f.get("active")) for f in frames] == [
            ("typing", True), ("user_message", None), ("typing", False)]
        assert frames[1]["id"] == stored.id


async def test_sessions_asked_for_together_are_read_in_one_query() -> None:
    from support.batching import BatchedReads

    queries: list[list[str]] = []

    async def load_many(keys: list[str]) -> dict[str, str]:
        queries.append(sorted(keys))
        await asyncio.sleep(0.01)
        if "boom" in keys:
            raise RuntimeError("database away")
        return {key: key.upper() for key in keys if key != "missing"}

    reads: BatchedReads[str, str] = BatchedReads(load_many, max_batch=3)
    assert await asyncio.gather(*(reads.get(key) for key in ["a", "b", "a", "missing"])) == ["A", "B", "A", None]
    assert queries == [["a", "b", "missing"]]  # one query; a key asked twice is read once
    queries.clear()
    # While a query runs, what is asked meanwhile waits for the next one, at most max_batch keys each.
    first = asyncio.ensure_future(reads.get("c"))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(reads.get(key)) for key in "defgh"]
    assert await first == "C" and await asyncio.gather(*later) == list("DEFGH")
    assert queries == [["c"], ["d", "e", "f"], ["g", "h"]]
    with pytest.raises(RuntimeError, match="database away"):
        await asyncio.gather(reads.get("boom"), reads.get("x"))
    assert await reads.get("y") == "Y"  # a failed query leaves the loader working


class _RecordingSocket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_json(self, data: dict[str, Any]) -> None:
        self.sent.append(data)


async def test_rows_committed_here_come_from_memory_and_a_late_lower_id_is_still_read() -> None:
    from widget.fanout import SessionSockets

    stored: list[dict[str, Any]] = [{"id": n, "text": f"m{n}"} for n in (1, 2)]
    reads: list[int] = []

    async def load(session: Any, after: int, limit: int) -> list[dict[str, Any]]:
        reads.append(after)
        return [event for event in sorted(stored, key=lambda e: e["id"]) if event["id"] > after][:limit]

    def link(session: Any, event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "linked": True}

    async def settled() -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    group = SessionSockets(session=None, load=load, link=link)  # type: ignore[arg-type]
    ws = _RecordingSocket()
    group.sockets[ws] = 2  # type: ignore[index]  # the client has everything up to 2
    # Row 4 committed here reaches the socket from memory, with no read; row 3, committed by another process
    # a moment earlier, is not stored yet as far as this process knows.
    stored.append({"id": 4, "text": "m4"})
    group.put_nowait(Committed([{"id": 4, "text": "m4"}]))
    await settled()
    assert [e["id"] for e in ws.sent] == [4] and ws.sent[0]["linked"] and reads == []
    # Its wake-up arrives late: the read starts from 2, not 4, so row 3 is not skipped and 4 is not sent twice.
    stored.append({"id": 3, "text": "m3"})
    group.put_nowait(None)
    await settled()
    assert [e["id"] for e in ws.sent] == [4, 3] and reads == [2]
    assert group.sockets[ws] == 4  # type: ignore[index]
    # An event the socket already has is not sent again from memory either.
    group.put_nowait(Committed([{"id": 3, "text": "m3"}]))
    await settled()
    assert [e["id"] for e in ws.sent] == [4, 3]


async def test_with_several_writers_a_row_comes_from_memory_only_after_the_row_before_it() -> None:
    """PostgreSQL: each committed row says which of the session's rows came before it (previous_event_id); a
    socket gets it from memory only once it has had that one, else a read brings both, in id order."""
    from widget.fanout import SessionSockets

    stored: list[dict[str, Any]] = [{"id": n} for n in (1, 2)]
    reads: list[int] = []

    async def load(session: Any, after: int, limit: int) -> list[dict[str, Any]]:
        reads.append(after)
        return [event for event in sorted(stored, key=lambda e: e["id"]) if event["id"] > after][:limit]

    async def settled() -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    group = SessionSockets(session=None, load=load, link=lambda session, event: event)  # type: ignore[arg-type]
    ahead, behind = _RecordingSocket(), _RecordingSocket()
    group.sockets[ahead] = 2  # type: ignore[index]
    group.sockets[behind] = 1  # type: ignore[index]  # has not had row 2 yet (its read is still to come)
    # Row 3 follows row 2: the socket that has row 2 gets it at once; the other reads 2 and 3, in order.
    stored.append({"id": 3})
    group.put_nowait(Committed([{"id": 3}], [2]))
    await settled()
    assert [e["id"] for e in ahead.sent] == [3]
    assert [e["id"] for e in behind.sent] == [2, 3] and reads == [1]
    # A chain committed together: 5 follows 4, which follows 3. Another process committed 6 meanwhile, still
    # unannounced here; this process's 8 follows it, so 8 waits for a read, which brings 6 and then 8.
    stored.extend([{"id": 4}, {"id": 5}])
    group.put_nowait(Committed([{"id": 4}, {"id": 5}], [3, 4]))
    await settled()
    assert [e["id"] for e in ahead.sent] == [3, 4, 5] and reads == [1]
    stored.extend([{"id": 6}, {"id": 8}])
    group.put_nowait(Committed([{"id": 8}], [6]))
    await settled()
    assert [e["id"] for e in ahead.sent] == [3, 4, 5, 6, 8]
    assert [e["id"] for e in behind.sent] == [2, 3, 4, 5, 6, 8]
    # The session's first row follows nothing: it always comes from memory.
    first = SessionSockets(session=None, load=load, link=lambda session, event: event)  # type: ignore[arg-type]
    fresh = _RecordingSocket()
    first.sockets[fresh] = 0  # type: ignore[index]
    first.put_nowait(Committed([{"id": 1}], [None]))
    await settled()
    assert [e["id"] for e in fresh.sent] == [1]
