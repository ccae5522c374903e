"""The AI consultant inside the product: when it calls a human, streaming, the summary, and its silence."""

from __future__ import annotations

import aiohttp
import pytest

from models import ChatMessage, SupportChat
from tests.clients import MANAGER, Visitor, accepted_chat, go_online, is_type, offer_to, press, ws_receive_until
from tests.conftest import Desk, start_desk
from tests.fakes import PIECES, FakeOpenAI


async def ask(visitor: Visitor, text: str) -> dict:
    asked = await visitor.send(text)
    return await visitor.wait_for(lambda e: e["type"] in ("ai_message", "system_message") and e["id"] > asked["id"])


async def test_asking_for_a_person_offers_the_manager_instead_of_an_answer(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    reply = await ask(visitor, "Позовите, пожалуйста, живого оператора")
    assert reply["type"] == "system_message" and reply["offer_manager"] is True
    assert "Связаться с живым менеджером" in reply["text"]
    assert await ChatMessage.select().where(ChatMessage.sender == "ai").aio_count() == 0
    assert await SupportChat.select().aio_count() == 0  # offered, not started: auto_handoff is off


async def test_two_misses_in_a_row_offer_the_manager_once(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    first = await ask(visitor, "Какая погода в Париже?")
    assert first["type"] == "ai_message"
    assert not [e for e in await visitor.poll() if e.get("offer_manager")]
    await ask(visitor, "Рецепт борща подскажете?")
    offer = await visitor.wait_for(lambda e: e.get("offer_manager") is True)
    assert "менеджер" in offer["text"]
    answer = await ask(visitor, "Кто выиграл чемпионат по шахматам?")
    assert answer["type"] == "ai_message"
    await ask(visitor, "Какие документы нужны?")
    offers = [e for e in await visitor.poll(after=0) if e.get("offer_manager")]
    assert len(offers) == 1


async def test_auto_handoff_starts_the_transfer_by_itself(clean_database: str) -> None:
    product = await start_desk(clean_database, AI_AUTO_HANDOFF="true")
    async with aiohttp.ClientSession() as http:
        desk = Desk(product=product, base_url=product.base_url, http=http)
        try:
            await go_online(desk, MANAGER)
            visitor = await Visitor(http, desk.base_url).start()
            await visitor.send("Хочу поговорить с человеком")
            waiting = await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "waiting")
            assert waiting["type"] == "system_message"
            offer = await offer_to(desk, MANAGER)
            assert "Хочу поговорить с человеком" in offer.text  # the ask itself is the summary's first line
            assert (await visitor.state())["status"] == "waiting"
        finally:
            await product.stop()


async def test_ai_is_silent_after_the_handoff_and_back_after_close(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await ask(visitor, "Какие документы нужны?")
    await visitor.transfer(name="Тихий")
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    ai_before = await ChatMessage.select().where(ChatMessage.sender == "ai").aio_count()
    await visitor.send("Сколько стоит аренда?")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Сколько стоит аренда?" in (m.text or ""))
    assert await ChatMessage.select().where(ChatMessage.sender == "ai").aio_count() == ai_before


async def test_openai_backend_streams_pieces_and_summarizes_for_the_manager(
    clean_database: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake_ai, base_url = fake_openai
    fake_ai.first_piece_taken.set()  # the widget reads pieces as they come; no need to hold the stream
    product = await start_desk(clean_database, AI_BACKEND="openai", AI_BASE_URL=base_url, AI_MODEL="test-model",
                               AI_API_KEY="sk-test")
    async with aiohttp.ClientSession() as http:
        desk = Desk(product=product, base_url=product.base_url, http=http)
        try:
            visitor = await Visitor(http, desk.base_url).start()
            async with http.ws_connect(await visitor.ws_url()) as ws:
                await ws.send_json({"type": "user_message", "text": "Можно ли взять машину в аренду?",
                                    "client_message_id": "q1"})
                frames = await ws_receive_until(ws, is_type("ai_message"), timeout=10)
            deltas = [f["text"] for f in frames if f["type"] == "ai_delta"]
            assert len(deltas) >= 2 and "".join(deltas) == "".join(PIECES)
            assert frames[-1]["text"] == "".join(PIECES) and "<strong>1 900 ₽</strong>" in frames[-1]["html"]
            grounding = fake_ai.requests[0]["messages"][0]["content"]
            assert "аренд" in grounding.lower()
            assert fake_ai.headers[0]["Authorization"] == "Bearer sk-test"

            await go_online(desk, MANAGER)
            await visitor.transfer(name="Стример")
            offer = await offer_to(desk, MANAGER)
            assert offer.text.splitlines()[2].startswith("📝 Суть: Хочет арендовать машину эконом-класса.")
        finally:
            await product.stop()


async def test_a_managers_chat_skips_the_ai_and_a_chat_closed_meanwhile_still_gets_its_answer(desk: Desk) -> None:
    """The relay knows from the session's own read that a manager has the chat and works out no AI answer; when
    that read is out of date (the chat closed since), the AI still answers, after the question is committed."""
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accepted_chat(desk, visitor)
    await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    assistant = desk.service.assistant
    prepared: list[str] = []
    original = assistant.prepare

    async def counted(session: object, text: str) -> object:
        prepared.append(text)
        return await original(session, text)

    assistant.prepare = counted
    await visitor.send("Сколько стоит аренда?")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Сколько стоит аренда?" in (m.text or ""))
    assert prepared == []  # a manager's chat: nothing for the AI to work out

    session = await desk.service.visitors.authenticate(visitor.session_id, visitor.token)  # reads "assigned"
    await desk.service.lifecycle.close_from_outside(chat_id, by="test")
    question = await desk.service.relay.visitor_message(session, "Какие документы нужны?")
    answer = await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > question.id)
    assert "документ" in answer["text"].lower()
    assert prepared == []  # answered after the commit, as a remote model's question is
    await visitor.send("А сколько стоит аренда?")  # the session read now says: no chat; the answer is inline
    assert prepared == ["А сколько стоит аренда?"]


async def test_the_ai_history_is_kept_between_turns_and_read_again_once_someone_else_wrote(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AI's history of a visitor is read once and then kept from turn to turn while the session's own read
    (its newest message) says nobody else wrote; a message written any other way (another process) is read."""
    import support.assistant as assistant_module

    reads: list[tuple[object, ...]] = []
    read = assistant_module._HISTORY.tuples

    async def counted(*values: object) -> list[tuple[object, ...]]:
        reads.append(values)
        return await read(*values)

    monkeypatch.setattr(assistant_module._HISTORY, "tuples", counted)
    assistant = desk.service.assistant
    histories: list[list[object]] = []
    latest = assistant._latest_history

    async def seen(session: object) -> list[object]:
        histories.append(await latest(session))
        return histories[-1]

    monkeypatch.setattr(assistant, "_latest_history", seen)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await ask(visitor, "Какие документы нужны?")
    await ask(visitor, "Сколько стоит аренда?")
    read_so_far = len(reads)
    await ask(visitor, "А комиссия?")
    assert len(reads) == read_so_far  # kept: nothing was written since this process's last turn
    assert [turn.role for turn in histories[-1]] == ["user", "assistant", "user", "assistant"]
    assert histories[-1][2].text == "Сколько стоит аренда?"

    session = await desk.service.visitors.authenticate(visitor.session_id, visitor.token)
    await ChatMessage.aio_create(session=session.id, sender="user", text="Написано в другом процессе")
    await ask(visitor, "И последний вопрос")
    assert len(reads) == read_so_far + 1
    assert histories[-1][-1].text == "Написано в другом процессе"
    assert histories[-1][-2].role == "assistant"  # the answer to «А комиссия?»
    await ask(visitor, "Спасибо, а график?")
    assert len(reads) == read_so_far + 1
    assert histories[-1][-2].text == "И последний вопрос"


async def test_question_and_answer_in_one_statement_and_the_answer_withdrawn_in_a_managers_chat(desk: Desk) -> None:
    """An answer worked out before the write goes in with its question (one INSERT). When the insert finds a chat
    a manager took meanwhile (the session's read was older), the answer is withdrawn before anyone sees it."""
    visitor = await Visitor(desk.http, desk.base_url).start()
    asked = await visitor.send("Какие документы нужны?")
    answer = await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > asked["id"])
    rows = list(await ChatMessage.select().where(ChatMessage.id.in_([asked["id"], answer["id"]])).order_by(
        ChatMessage.id).aio_execute())
    assert [row.sender for row in rows] == ["user", "ai"]
    if desk.service.store.db.param == "%s":  # PostgreSQL: the trigger chains the two rows of the one insert
        assert rows[1].previous_event_id == rows[0].id

    await go_online(desk, MANAGER)
    stale = await desk.service.visitors.authenticate(visitor.session_id, visitor.token)  # reads: no chat
    await visitor.transfer(name="Тихий")
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    ai_before = await ChatMessage.select().where(ChatMessage.sender == "ai").aio_count()
    question = await desk.service.relay.visitor_message(stale, "Сколько стоит аренда?")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Сколько стоит аренда?" in (m.text or ""))
    assert await ChatMessage.select().where(ChatMessage.sender == "ai").aio_count() == ai_before
    assert question.support_chat_id is not None
    later = [e for e in await visitor.poll() if e["id"] >= question.id]
    assert [e["type"] for e in later] == ["user_message"]
