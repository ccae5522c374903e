"""Verified visitors: one history across devices, a wrong hash refused with nothing merged, `required` mode;
and /find with the chats API's q= over phones, names and words, on both databases."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models import VisitorIdentity, VisitorSession
from tests.clients import ADMIN, MANAGER, SECOND_MANAGER, Visitor, accepted_chat, go_online, offer_to, say
from tests.conftest import Desk, running_desk

SECRET = "site-secret-0123456789abcdef"
API_KEY = "crm-key-0123456789abcdef"


def site_hash(user_id: str, secret: str = SECRET) -> str:
    """What the site's server computes (README: "Verified visitors")."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
async def idesk(clean_database: str) -> AsyncIterator[Desk]:
    async for desk in running_desk(clean_database, IDENTITY_SECRET=SECRET, INTEGRATION_API_KEYS=API_KEY):
        yield desk


async def identify(visitor: Visitor, **body: Any) -> tuple[int, dict[str, Any]]:
    async with visitor.http.post(f"{visitor.base_url}/api/chat/identify", headers=visitor.auth,
                                 json={"session_id": visitor.session_id, **body}) as response:
        return response.status, await response.json()


async def test_a_verified_visitor_keeps_one_history_across_devices(idesk: Desk) -> None:
    laptop = await Visitor(idesk.http, idesk.base_url).start(page_url="https://ilpo-taxi.ru/")
    assert await identify(laptop, id="user-42", name="Ольга", phone="+7 912 000-11-22",
                          hash=site_hash("user-42")) == (200, {"verified": True})
    await laptop.send("Как подключиться к парку?")
    first_chat = (await laptop.transfer())["support_chat_id"]
    await idesk.service.lifecycle.close_from_outside(first_chat, by="test")

    phone = await Visitor(idesk.http, idesk.base_url).start(page_url="https://ilpo-taxi.ru/cars")
    assert (await phone.poll(after=0)) == []  # a stranger until identified
    assert await identify(phone, id="user-42", hash=site_hash("user-42").upper()) == (200, {"verified": True})
    history = await phone.poll(after=0)
    assert "Как подключиться к парку?" in [event["text"] for event in history]
    # The other device's chat state is not replayed: this device is not in that (closed) chat.
    assert not any("chat" in event or "rating_request" in event for event in history)

    await go_online(idesk, MANAGER)
    second_chat = (await phone.transfer())["support_chat_id"]
    offer = await offer_to(idesk, MANAGER)
    assert "Ольга ✔️ проверен" in offer.text
    assert f"🔁 Возвращается: прошлые чаты #{first_chat}" in offer.text
    snapshot = await idesk.service.queries.chat_snapshot(second_chat)
    assert snapshot["client"]["verified"] is True and snapshot["client"]["external_id"] == "user-42"


async def test_a_wrong_hash_is_refused_and_nothing_is_merged(idesk: Desk) -> None:
    owner = await Visitor(idesk.http, idesk.base_url).start()
    assert (await identify(owner, id="user-7", hash=site_hash("user-7")))[0] == 200
    await owner.send("Мой секретный вопрос про выплаты")

    intruder = await Visitor(idesk.http, idesk.base_url).start()
    status, body = await identify(intruder, id="user-7", name="Взломщик", hash=site_hash("user-7", "guessed-secret-xx"))
    assert (status, body["error"]) == (401, "invalid_identity")
    status, body = await identify(intruder, id="user-7", hash="")
    assert status == 200 and body == {"verified": False}  # a claim without proof: kept on this session only
    assert await intruder.poll(after=0) == []
    session = await VisitorSession.aio_get(VisitorSession.session_id == intruder.session_id)
    assert session.identity_id is None and session.claimed_id == "user-7" and session.name is None
    identity = await VisitorIdentity.aio_get(VisitorIdentity.external_id == "user-7")
    assert identity.name is None  # the refused call's name went nowhere

    # A session of one verified user cannot be taken over by another.
    status, body = await identify(owner, id="user-8", hash=site_hash("user-8"))
    assert (status, body["error"]) == (409, "identity_conflict")


async def test_required_mode_refuses_unverified_ids(clean_database: str) -> None:
    async for desk in running_desk(clean_database, IDENTITY_SECRET=SECRET, IDENTITY_REQUIRED="true"):
        visitor = await Visitor(desk.http, desk.base_url).start()
        status, body = await identify(visitor, id="user-9", name="Без подписи")
        assert (status, body["error"]) == (401, "identity_required")
        session = await VisitorSession.aio_get(VisitorSession.session_id == visitor.session_id)
        assert session.claimed_id is None and session.name is None
        assert (await identify(visitor, id="user-9", hash=site_hash("user-9")))[0] == 200


# --- search ---------------------------------------------------------------------------------------------


async def test_find_by_phone_name_and_text(idesk: Desk) -> None:
    await go_online(idesk, MANAGER)
    visitor = await Visitor(idesk.http, idesk.base_url).start()
    await visitor.send("Хочу арендовать автомобиль с брендированием")
    result = await visitor.transfer(name="Геннадий Тестов", phone="+7 999 123-45-67")
    chat_id = result["support_chat_id"]
    offer = await offer_to(idesk, MANAGER)
    await idesk.fake.press_button(MANAGER, offer.message_id, "✅ Принять чат")
    await idesk.fake.wait_for_message(MANAGER.id, lambda m: "Режим ответа" in (m.text or ""))
    other = await Visitor(idesk.http, idesk.base_url).start()
    await other.transfer(name="Другой Клиент", phone="+7 900 555-00-00")
    await offer_to(idesk, MANAGER)

    for query in ("+7 999 123-45-67", "89991234567", "9991234567", "геннадий", "Тестов",
                  "арендовать автомобиль", "БРЕНДИРОВАНИЕМ"):
        await idesk.fake.send_message(MANAGER, f"/find {query}")
        reply = await idesk.fake.wait_for_message(MANAGER.id, lambda m: "🔎" in (m.text or ""))
        assert f"#{chat_id}" in reply.text, (query, reply.text)
        assert "Другой Клиент" not in reply.text
        assert f"📋 Подробности #{chat_id}" in reply.button_texts
    # Another manager sees nothing of it; the admin sees all.
    await say(idesk, SECOND_MANAGER, "/start")
    assert "ничего не найдено" in await say(idesk, SECOND_MANAGER, "/find 89991234567")
    await say(idesk, ADMIN, "/start")
    assert f"#{chat_id}" in await say(idesk, ADMIN, "/find 8 (999) 123 45 67")
    assert "ничего не найдено" in await say(idesk, ADMIN, "/find 100% _")
    assert "Поиск чатов" in await say(idesk, MANAGER, "/find")

    async with idesk.http.get(f"{idesk.base_url}/api/v1/chats", params={"q": "9991234567"},
                              headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        assert response.status == 200
        assert [chat["id"] for chat in (await response.json())["chats"]] == [chat_id]


async def test_find_lists_newest_first_with_details(idesk: Desk) -> None:
    await go_online(idesk, MANAGER)
    ids = []
    for _ in range(2):
        visitor = await Visitor(idesk.http, idesk.base_url).start()
        ids.append(await accepted_chat(idesk, visitor))
        await idesk.service.lifecycle.close_from_outside(ids[-1], by="test")
    await idesk.fake.send_message(MANAGER, "/find Пётр")
    reply = (await idesk.fake.wait_for_message(MANAGER.id, lambda m: "🔎" in (m.text or ""))).text
    assert reply.index(f"#{ids[1]}") < reply.index(f"#{ids[0]}")
    assert "&lt;Водитель&gt;" not in reply  # the fake checks HTML strictly: the name arrives escaped, as text
    assert "Пётр <Водитель>" in reply
