"""The live events socket (`GET /api/v1/events/ws`) with a real WebSocket client: the webhooks' events live,
the key in a header or the first frame (never the URL), and resume after an event id without a gap."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.clients import Visitor
from tests.conftest import Desk, running_desk

API_KEY = "wallboard-key-0123456789"


@pytest.fixture
async def edesk(clean_database: str) -> AsyncIterator[Desk]:
    async for desk in running_desk(clean_database, INTEGRATION_API_KEYS=API_KEY):
        yield desk


async def next_event(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)  # type: ignore[no-any-return]


async def test_events_stream_live_and_resume_after_an_id(edesk: Desk) -> None:
    url = f"{edesk.base_url}/api/v1/events/ws"
    async with edesk.http.ws_connect(url, headers={"Authorization": f"Bearer {API_KEY}"}) as ws:
        assert await next_event(ws) == {"type": "ready", "after": 0}
        visitor = await Visitor(edesk.http, edesk.base_url).start(page_url="https://ilpo-taxi.ru/")
        chat_id = (await visitor.transfer(name="Табло", phone="+7 900 111-22-33"))["support_chat_id"]
        created = await next_event(ws)
        assert created["event"] == "chat.created" and created["data"]["chat"]["id"] == chat_id
        assert created["data"]["chat"]["client"]["name"] == "Табло"

    # While nobody listens, the chat is closed; a client resuming after what it saw gets exactly that.
    await edesk.service.lifecycle.close_from_outside(chat_id, by="API")
    async with edesk.http.ws_connect(url) as ws:  # a browser: the key in the first frame
        await ws.send_json({"type": "auth", "api_key": API_KEY, "after": created["id"]})
        assert await next_event(ws) == {"type": "ready", "after": created["id"]}
        closed = await next_event(ws)
        assert (closed["event"], closed["data"]["chat"]["id"]) == ("chat.closed", chat_id)
        assert closed["id"] > created["id"]
        await ws.send_json({"type": "ping"})
        assert await next_event(ws) == {"type": "pong"}  # and not a replay of chat.created

    async with edesk.http.ws_connect(f"{url}?after=0", headers={"Authorization": f"Bearer {API_KEY}"}) as ws:
        await next_event(ws)
        assert [(await next_event(ws))["event"] for _ in range(2)] == ["chat.created", "chat.closed"]


async def test_a_wrong_key_gets_nothing(edesk: Desk) -> None:
    url = f"{edesk.base_url}/api/v1/events/ws"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await edesk.http.ws_connect(url, headers={"Authorization": "Bearer not-a-key-at-all-000"})
    assert refused.value.status == 403
    async with edesk.http.ws_connect(url) as ws:
        await ws.send_json({"type": "auth", "api_key": "not-a-key-at-all-000"})
        assert (await next_event(ws))["error"] == "invalid_token"
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 4401
