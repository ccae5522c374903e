"""External systems: signed chat-event webhooks (a CRM's receiver), and the read API by API key."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from models import IntegrationDelivery
from tests.clients import MANAGER, Visitor, close_chat, go_online, offer_to, press
from tests.conftest import Desk, start_desk

SECRET = "crm-shared-secret"
API_KEY = "ilpo-api-key-0123456789"


@dataclass
class Receiver:
    """A CRM's webhook endpoint: records what arrives; can be told to fail first."""

    received: list[dict[str, Any]] = field(default_factory=list)
    failures_left: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.failures_left:
            self.failures_left -= 1
            return web.Response(status=503)
        self.received.append({"headers": dict(request.headers), "body": body, "json": json.loads(body)})
        self.arrived.set()
        return web.Response(status=204)

    async def wait_for(self, event: str, timeout: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for item in self.received:
                    if item["json"]["event"] == event:
                        return item
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/ilpo", receiver.handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield receiver, str(server.make_url("/hooks/ilpo"))
    finally:
        await server.close()


@pytest.fixture
async def crm_desk(clean_database: str, receiver: tuple[Receiver, str]) -> AsyncIterator[Desk]:
    product = await start_desk(clean_database, INTEGRATION_WEBHOOK_URLS=receiver[1],
                               INTEGRATION_WEBHOOK_SECRET=SECRET, INTEGRATION_API_KEYS=API_KEY)
    async with aiohttp.ClientSession() as http:
        try:
            yield Desk(product=product, base_url=product.base_url, http=http)
        finally:
            await product.stop()


async def test_chat_events_reach_the_crm_signed_in_order_despite_failures(
    crm_desk: Desk, receiver: tuple[Receiver, str]
) -> None:
    crm, _ = receiver
    crm.failures_left = 2  # the CRM is briefly down: events wait and keep their order
    desk = crm_desk
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start(page_url="https://ilpo-taxi.ru/")
    chat_id = int((await visitor.transfer(name="Лид", phone="+7 900 765-43-21"))["support_chat_id"])
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Режим ответа" in (m.text or ""))
    card = next(m for m in desk.fake.messages(MANAGER.id) if "🔚 Завершить" in m.button_texts)
    await close_chat(desk, MANAGER, card.message_id)
    async with desk.http.post(f"{desk.base_url}/api/chat/rate", headers=visitor.auth, json={
            "session_id": visitor.session_id, "support_chat_id": chat_id, "rating": 4}) as response:
        assert response.status == 200

    rated = await crm.wait_for("chat.rated", timeout=20)
    events = [item["json"]["event"] for item in crm.received]
    assert events == ["chat.created", "chat.assigned", "chat.closed", "chat.rated"]
    created = crm.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), created["body"], hashlib.sha256).hexdigest()
    assert created["headers"]["X-ILPO-Signature"] == expected
    assert created["headers"]["X-ILPO-Event"] == "chat.created"
    chat = created["json"]["data"]["chat"]
    assert chat["client"] == {"name": "Лид", "phone": "+7 900 765-43-21", "page_url": "https://ilpo-taxi.ru/",
                              "verified": False, "external_id": None}
    assert created["json"]["data"]["routing"] == "waiting"
    assert crm.received[1]["json"]["data"]["chat"]["manager"]["telegram_id"] == MANAGER.id
    assert rated["json"]["data"]["chat"]["rating"] == 4
    first = await IntegrationDelivery.aio_get(IntegrationDelivery.event == "chat.created")
    assert first.attempts == 3 and first.status == "sent"  # two 503s, then delivered
    deliveries = {item["headers"]["X-ILPO-Delivery"] for item in crm.received}
    assert len(deliveries) == 4  # a stable id per delivery, for the receiver to deduplicate on


async def test_read_api_lists_and_shows_chats_by_key(crm_desk: Desk) -> None:
    desk = crm_desk
    visitor = await Visitor(desk.http, desk.base_url).start()
    asked = await visitor.send("Какие документы нужны?")
    await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > asked["id"])
    chat_id = int((await visitor.transfer(name="Из CRM"))["support_chat_id"])
    second = await Visitor(desk.http, desk.base_url).start()
    await second.transfer(name="Второй лид")

    url = f"{desk.base_url}/api/v1/chats"
    async with desk.http.get(url) as response:
        assert response.status == 401 and (await response.json())["error"] == "missing_token"
    async with desk.http.get(url, headers={"Authorization": "Bearer wrong-key-0000000000"}) as response:
        assert response.status == 403
    auth = {"Authorization": f"Bearer {API_KEY}"}
    async with desk.http.get(url, headers=auth, params={"status": "waiting", "limit": "1"}) as response:
        page = await response.json()
    assert [c["client"]["name"] for c in page["chats"]] == ["Второй лид"] and page["next_before"]
    async with desk.http.get(url, headers=auth, params={"before": str(page["next_before"])}) as response:
        assert [c["id"] for c in (await response.json())["chats"]] == [chat_id]
    for bad in ({"status": "open"}, {"limit": "0"}, {"since": "yesterday"}):
        async with desk.http.get(url, headers=auth, params=bad) as response:
            assert response.status == 400, bad
    async with desk.http.get(f"{url}/{chat_id}", headers=auth) as response:
        detail = await response.json()
    assert detail["chat"]["status"] == "waiting"
    assert [m["type"] for m in detail["messages"]][:2] == ["user_message", "ai_message"]
    async with desk.http.get(f"{url}/999999", headers=auth) as response:
        assert response.status == 404


async def test_read_api_is_off_without_keys(desk: Desk) -> None:
    async with desk.http.get(f"{desk.base_url}/api/v1/chats",
                             headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        assert response.status == 403 and (await response.json())["error"] == "api_disabled"
    assert await IntegrationDelivery.select().aio_count() == 0  # no webhook configured: nothing queued


async def test_api_assigns_and_closes_chats(crm_desk: Desk, receiver: tuple[Receiver, str]) -> None:
    desk = crm_desk
    crm, _ = receiver
    await go_online(desk, MANAGER)
    await desk.fake.send_message(MANAGER, "/offline")  # nobody online: the chat waits in the queue
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Смена завершена" in (m.text or ""))
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = int((await visitor.transfer(name="Из CRM"))["support_chat_id"])
    auth = {"Authorization": f"Bearer {API_KEY}"}
    url = f"{desk.base_url}/api/v1/chats/{chat_id}"
    async with desk.http.post(f"{url}/assign", headers=auth, json={"manager_telegram_id": 42}) as response:
        assert response.status == 400
    async with desk.http.post(f"{url}/assign", headers=auth, json={"manager_telegram_id": MANAGER.id}) as response:
        assert response.status == 200
        assert (await response.json())["chat"]["manager"]["telegram_id"] == MANAGER.id
    handed = await desk.fake.wait_for_message(MANAGER.id, lambda m: "API передал" in (m.text or ""))
    assert "Из CRM" in handed.text
    async with desk.http.post(f"{url}/assign", headers=auth, json={"manager_telegram_id": MANAGER.id}) as response:
        assert response.status == 200  # the same assignment again changes nothing
    async with desk.http.post(f"{url}/close", headers=auth) as response:
        assert response.status == 200 and (await response.json())["chat"]["close_reason"] == "api"
    async with desk.http.post(f"{url}/close", headers=auth) as response:
        assert response.status == 409
    closed = await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "closed")
    assert "службой поддержки" in closed["text"] and "rating_request" not in closed
    assert "внешней системы" in (await desk.fake.wait_for_message(
        MANAGER.id, lambda m: "закрыт из внешней" in (m.text or ""))).text
    closing = await crm.wait_for("chat.closed")
    assert closing["json"]["data"]["closed_by"] == "API"
    async with desk.http.post(f"{desk.base_url}/api/v1/chats/abc/close", headers=auth) as response:
        assert response.status == 400
