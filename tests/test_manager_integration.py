"""The handoff, end to end: the real aiogram bot against the fake Bot API, the real aiohttp endpoints,
on SQLite and on PostgreSQL (the seed's test, grown up)."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from models import ChatMessage, Outbox, OutboxStatus, SupportChat
from tests.clients import (
    ADMIN,
    MANAGER,
    SECOND_MANAGER,
    STRANGER,
    Visitor,
    accepted_chat,
    close_chat,
    go_online,
    is_type,
    offer_to,
    press,
    say,
    ws_receive_until,
)
from tests.conftest import PACED, Desk, eventually, running_desk, start_desk


async def visitor_with_ai_history(desk: Desk, **start: object) -> Visitor:
    visitor = await Visitor(desk.http, desk.base_url).start(page_url="https://ilpo-taxi.ru/drivers", **start)
    for question in ("Какие документы нужны?", "Сколько вы берёте комиссию?", "Можно взять машину в аренду?",
                     "Как часто выплаты?"):
        asked = await visitor.send(question)
        await visitor.wait_for(lambda e, after=asked["id"]: e["type"] == "ai_message" and e["id"] > after)
    return visitor


async def test_ai_answers_in_ai_mode(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start(locale="ru")
    stored = await visitor.send("Какие документы нужны для подключения?")
    assert stored["type"] == "user_message" and stored["id"] > 0
    answer = await visitor.wait_for(is_type("ai_message"))
    assert answer["id"] > stored["id"]
    assert "паспорт" in answer["text"].lower()
    assert answer["html"].startswith("<") and "<script" not in answer["html"]
    assert answer["created_at"].endswith("Z")
    assert (await visitor.state())["mode"] == "ai"


async def test_handoff_notifies_least_busy_manager_with_context(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await go_online(desk, MANAGER)
    visitor = await visitor_with_ai_history(desk)
    result = await visitor.transfer(name="Пётр <b>Водитель</b>", phone="+7 900 123-45-67")
    assert result["status"] == "waiting"
    offer = await offer_to(desk, MANAGER)
    text = offer.text
    assert "Пётр <b>Водитель</b>" in text  # shown literally: the client's text was escaped for HTML
    assert "&lt;b&gt;" in offer.raw_text
    assert "+7 900 123-45-67" in text and "https://ilpo-taxi.ru/drivers" in text
    # The last three exchanges, the visitor's question above the AI's answer, each heading on its own line.
    lines = text.splitlines()
    assert lines.count("👤 Клиент:") == 3 and lines.count("🤖 ИИ:") == 3, text
    exchanges = text.split("Последние сообщения (3):", 1)[1]
    for question in ("Сколько вы берёте комиссию?", "Можно взять машину в аренду?", "Как часто выплаты?"):
        assert lines[lines.index(question) - 1] == "👤 Клиент:", text
        assert question in exchanges
    assert "Какие документы нужны?" not in exchanges  # the fourth exchange back is not shown
    assert "**" not in text and "<b>" in offer.raw_text  # the AI's Markdown reaches Telegram as HTML
    assert offer.button_texts[:3] == ["✅ Принять чат", "📋 Подробности", "📞 Позвонить"]

    again = await visitor.transfer()
    assert again["support_chat_id"] == result["support_chat_id"]
    assert await SupportChat.select().aio_count() == 1
    history = await ChatMessage.select().where(ChatMessage.support_chat == result["support_chat_id"]).aio_count()
    assert history >= 8  # the AI conversation belongs to the chat
    system = await visitor.wait_for(is_type("system_message"))
    assert system["chat"]["status"] == "waiting"

    await eventually(lambda: any("уведомлен о новом чате" in r.getMessage() for r in caplog.records))
    messages = [r.getMessage() for r in caplog.records]
    assert f"✅ Создан чат поддержки {result['support_chat_id']} для сессии {visitor.session_id}" in messages
    assert f"✅ Менеджер {MANAGER.id} уведомлен о новом чате {result['support_chat_id']}" in messages

    call = await press(desk, MANAGER, offer.message_id, "📞 Позвонить")
    assert call.get("show_alert") in (None, False)
    contact = await desk.fake.wait_for_message(MANAGER.id, lambda m: m.contact is not None)
    assert contact.contact["phone_number"] == "+7 900 123-45-67"


async def test_accept_reply_relay_details_close(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await go_online(desk, MANAGER)
    visitor = await visitor_with_ai_history(desk)
    chat_id = await accepted_chat(desk, visitor)

    joined = await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    assert joined["chat"]["manager"] == "Анна Смирнова" and "Анна Смирнова" in joined["text"]
    state = await visitor.state()
    assert state["support_open"] is True
    assert {k: state[k] for k in ("mode", "status", "manager", "support_chat_id")} == {
        "mode": "manager", "status": "assigned", "manager": "Анна Смирнова", "support_chat_id": chat_id}

    # Reply mode is on after accepting: the manager's text goes to the widget as a manager_message.
    await desk.fake.send_message(MANAGER, "Здравствуйте! **Поможем** с подключением.")
    confirmation = await desk.fake.wait_for_message(MANAGER.id)
    assert "Отправлено клиенту" in confirmation.text
    reply = await visitor.wait_for(is_type("manager_message"))
    assert reply["author"] == {"name": "Анна Смирнова"}
    assert "<strong>Поможем</strong>" in reply["html"]

    # Visitor → manager, with a header naming the client.
    await visitor.send("А если у меня <права> другой страны?")
    relayed = await desk.fake.wait_for_message(MANAGER.id, lambda m: "чат #" in (m.text or ""))
    assert relayed.text.startswith(f"💬 Пётр <Водитель> · чат #{chat_id}")
    assert "А если у меня <права> другой страны?" in relayed.text
    await eventually(lambda: f"✅ Сообщение от веб-клиента переслано менеджеру {MANAGER.id}"
                     in [r.getMessage() for r in caplog.records])
    assert f"✅ Сообщение менеджера отправлено в веб-чат {chat_id}" in [r.getMessage() for r in caplog.records]

    # /cancel leaves reply mode: the next text is not relayed.
    assert "выключен" in await say(desk, MANAGER, "/cancel")
    before = await ChatMessage.select().where(ChatMessage.sender == "manager").aio_count()
    assert "Не понял" in await say(desk, MANAGER, "это не клиенту")
    assert await ChatMessage.select().where(ChatMessage.sender == "manager").aio_count() == before

    # Reply-by-quote answers the client without the mode.
    await desk.fake.send_message(MANAGER, "Да, подойдут после замены.", reply_to_message_id=relayed.message_id)
    assert "Отправлено клиенту" in (await desk.fake.wait_for_message(MANAGER.id)).text
    quoted = await visitor.wait_for(lambda e: e["type"] == "manager_message" and "замены" in e["text"])
    assert quoted["author"]["name"] == "Анна Смирнова"

    # Details: info and the whole history.
    answer = await press(desk, MANAGER, relayed.message_id, "📋 Подробности")
    assert answer.get("show_alert") in (None, False)
    details = await desk.fake.wait_for_message(MANAGER.id, lambda m: "История" in (m.text or ""))
    assert f"Чат #{chat_id}" in details.text and "Какие документы нужны?" in details.text
    assert "Да, подойдут после замены." in details.text

    # Close: the visitor is told and is back with the AI.
    offer_message = next(m for m in desk.fake.messages(MANAGER.id) if "Чат поддержки" in (m.text or ""))
    accepted_card = next(m for m in desk.fake.messages(MANAGER.id) if "🔚 Завершить" in m.button_texts)
    assert accepted_card.message_id == offer_message.message_id  # the offer itself was turned into the chat card
    # A mis-tap on «🔚 Завершить» ends nothing: it asks, and «Отмена» keeps the conversation going.
    await press(desk, MANAGER, accepted_card.message_id, "🔚 Завершить")
    asked = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Да, завершить" in m.button_texts)
    assert asked.button_texts == ["Да, завершить", "Отмена"] and f"Завершить чат #{chat_id}" in asked.text
    kept = await press(desk, MANAGER, asked.message_id, "Отмена")
    assert "открытым" in str(kept["text"])
    assert "не завершён" in (await desk.fake.wait_for_edit(MANAGER.id, asked.message_id)).text
    assert desk.fake.message(MANAGER.id, asked.message_id).button_texts == []
    assert (await SupportChat.aio_get(SupportChat.id == chat_id)).status == "assigned"
    answer = await close_chat(desk, MANAGER, accepted_card.message_id)
    assert "завершён" in str(answer["text"])
    done = await desk.fake.wait_for_edit(MANAGER.id, predicate=lambda m: "Клиент уведомлён" in (m.text or ""))
    assert "завершён" in done.text and done.button_texts == []
    closed = await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "closed")
    assert "менеджер, завершает чат" in closed["text"]
    assert (await visitor.state())["mode"] == "ai"
    await visitor.send("Какие документы нужны?")
    await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > closed["id"])
    # Reply mode ended with the chat.
    assert "Не понял" in await say(desk, MANAGER, "ещё одно")


async def test_two_managers_race_for_one_chat(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    await go_online(desk, SECOND_MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    result = await visitor.transfer(name="Гонка")
    first_offer = await desk.fake.wait_for_message(
        MANAGER.id, lambda m: "✅ Принять чат" in m.button_texts, timeout=5)
    # The other manager sees the waiting chat in /chats and presses at the same moment.
    await desk.fake.send_message(SECOND_MANAGER, "/chats")
    listing = await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "Ожидают" in (m.text or ""))
    button = f"✅ Принять #{result['support_chat_id']}"
    answers = await asyncio.gather(
        press(desk, MANAGER, first_offer.message_id, "✅ Принять чат"),
        press(desk, SECOND_MANAGER, listing.message_id, button),
    )
    texts = [str(a["text"]) for a in answers]
    winners = [t for t in texts if "ваш" in t]
    losers = [a for a in answers if "уже принял" in str(a["text"])]
    assert len(winners) == 1 and len(losers) == 1, texts
    assert losers[0]["show_alert"] is True
    chat = await SupportChat.aio_get(SupportChat.id == result["support_chat_id"])
    assert chat.status == "assigned"
    winner_name = "Анна Смирнова" if "ваш" in texts[0] else "Борис"
    assert winner_name in str(losers[0]["text"])
    assert len([e for e in await visitor.poll(after=0) if e.get("chat", {}).get("status") == "assigned"]) == 1


async def test_relay_over_websocket_and_resume_without_gaps(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await accepted_chat(desk, visitor)
    async with desk.http.ws_connect(await visitor.ws_url()) as ws:
        replay = await ws_receive_until(ws, lambda f: f.get("chat", {}).get("status") == "assigned")
        assert [f["id"] for f in replay] == sorted(f["id"] for f in replay)
        await ws.send_json({"type": "user_message", "text": "Через сокет", "client_message_id": "c-1"})
        frames = await ws_receive_until(ws, is_type("ack"))
        ack = frames[-1]
        assert ack["client_message_id"] == "c-1"
        relayed = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Через сокет" in (m.text or ""))
        assert "Через сокет" in relayed.text and "💬 Ответить" in relayed.button_texts
        await desk.fake.send_message(MANAGER, "Ответ в сокет")
        frames = await ws_receive_until(ws, is_type("manager_message"))
        last_id = frames[-1]["id"]
        await ws.send_json({"type": "ping"})
        assert (await ws_receive_until(ws, is_type("pong")))[-1] == {"type": "pong"}
        # A resend of the same client message (after a flaky network) is stored once.
        await ws.send_json({"type": "user_message", "text": "Через сокет", "client_message_id": "c-1"})
        assert (await ws_receive_until(ws, is_type("ack")))[-1]["id"] == ack["id"]
    # While disconnected, the manager writes twice; the reconnect resumes after the last id seen.
    await desk.fake.send_message(MANAGER, "Пока вас не было 1")
    await desk.fake.send_message(MANAGER, "Пока вас не было 2")
    await eventually(lambda: ChatMessage.select().where(ChatMessage.sender == "manager").aio_count(), 5)
    await eventually(_count_manager_messages(3))
    async with desk.http.ws_connect(await visitor.ws_url(after=last_id)) as ws:
        frames = await ws_receive_until(ws, lambda f: "Пока вас не было 2" in f.get("text", ""))
        stored = [f for f in frames if "id" in f]
        assert [f["text"] for f in stored] == ["Пока вас не было 1", "Пока вас не было 2"]
    assert await ChatMessage.select().where(ChatMessage.client_message_id == "c-1").aio_count() == 1


def _count_manager_messages(expected: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return bool(await ChatMessage.select().where(ChatMessage.sender == "manager").aio_count() >= expected)

    return check


async def test_long_poll_waits_for_the_manager(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await accepted_chat(desk, visitor)
    await visitor.poll(after=0)
    waiting = asyncio.create_task(visitor.poll(timeout=10))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # nothing new yet: the request is held open
    await desk.fake.send_message(MANAGER, "Через long-poll")
    events = await asyncio.wait_for(waiting, 5)
    assert [e["text"] for e in events] == ["Через long-poll"]
    assert await visitor.poll(timeout=0) == []


async def test_empty_queue_waits_notifies_admins_and_offers_on_online(desk: Desk) -> None:
    desk.fake.register_user(ADMIN)
    await say(desk, MANAGER, "/start")  # registered, but not on shift
    visitor = await Visitor(desk.http, desk.base_url).start()
    result = await visitor.transfer(name="Очередь")
    assert result["status"] == "queued"
    assert await visitor.transfer() == result  # asking again changes nothing and says the same
    notice = await visitor.wait_for(is_type("system_message"))
    assert "нет менеджеров онлайн" in notice["text"] and notice["chat"]["queued"] is True
    alert = await desk.fake.wait_for_message(ADMIN.id, lambda m: "Нет менеджеров онлайн" in (m.text or ""))
    assert f"#{result['support_chat_id']}" in alert.text
    await visitor.send("Я подожду")  # stored while waiting, shown to the manager in the details
    await desk.fake.send_message(MANAGER, "/online")
    shift = await desk.fake.wait_for_message(MANAGER.id)
    assert "очереди ждут клиенты: 1" in shift.text
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "📋 Подробности")
    details = await desk.fake.wait_for_message(MANAGER.id, lambda m: "История" in (m.text or ""))
    assert "Я подожду" in details.text
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")


async def test_strangers_and_other_managers_are_refused(desk: Desk) -> None:
    start = await say(desk, STRANGER, "/start")
    assert str(STRANGER.id) in start and "нет доступа" in start
    assert "нет доступа" in await say(desk, STRANGER, "/online")
    await go_online(desk, MANAGER)
    await say(desk, SECOND_MANAGER, "/start")
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accepted_chat(desk, visitor)
    card = next(m for m in desk.fake.messages(MANAGER.id) if "🔚 Завершить" in m.button_texts)

    # A forged callback: the chat card's buttons replayed from someone else's Telegram (modified clients can
    # send any callback data, so the bot must check who presses, not trust where the button was).
    for intruder in (STRANGER, SECOND_MANAGER):
        bot_message = desk.fake.messages(intruder.id)[-1]
        bot_message.reply_markup = card.reply_markup
        for button in ("🔚 Завершить", "💬 Ответить", "📋 Подробности"):
            answer = await press(desk, intruder, bot_message.message_id, button)
            assert answer["show_alert"] is True, (intruder, button, answer)
            assert "Нет доступа" in answer["text"] or "другого менеджера" in answer["text"], answer
    chat = await SupportChat.aio_get(SupportChat.id == chat_id)
    assert chat.status == "assigned" and (await visitor.state())["status"] == "assigned"


async def test_long_visitor_message_is_split_not_dropped(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await accepted_chat(desk, visitor)
    long_text = ("Очень длинный вопрос про аренду & комиссию <без тегов>. " * 70)[:3990]
    # 3990 raw characters grow past 4096 once escaped for HTML: the relay must split them.
    await visitor.send(long_text)
    first = await desk.fake.wait_for_message(MANAGER.id, lambda m: "(часть 1/" in (m.text or ""))
    total = int(first.text.split("(часть 1/")[1].split(")")[0])
    parts = [first] + [await desk.fake.wait_for_message(MANAGER.id, lambda m: "(часть" in (m.text or ""))
                       for _ in range(total - 1)]
    bodies = [p.text.split("\n\n", 1)[1] for p in parts]
    # Telegram trims whitespace at a message's edges, so compare the words: none may be lost.
    assert " ".join(bodies).split() == long_text.split()
    assert all(len(p.raw_text) <= 4096 for p in parts)


@pytest.fixture
async def paced_desk(clean_database: str) -> AsyncIterator[Desk]:
    """Pacing on (tests/conftest.py turns it off elsewhere): a 429 pauses the chat as in production."""
    async for running in running_desk(clean_database, **PACED):
        yield running


async def test_telegram_429_and_502_lose_nothing(paced_desk: Desk) -> None:
    desk = paced_desk
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await accepted_chat(desk, visitor)
    desk.fake.inject_fault("sendMessage", "429", times=1, retry_after=1)
    desk.fake.inject_fault("sendMessage", "5xx", times=2, status=502)
    for n in range(1, 4):
        await visitor.send(f"сообщение {n}")
    # The three may arrive merged into fewer Telegram messages (the outbox coalesces relays); order holds.
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "сообщение 3" in (m.text or ""), timeout=15)
    lines = [line for m in desk.fake.messages(MANAGER.id) for line in (m.text or "").splitlines()
             if line.startswith("сообщение")]
    assert lines == ["сообщение 1", "сообщение 2", "сообщение 3"]
    async def all_sent() -> bool:
        rows = await Outbox.select().where(Outbox.purpose == "relay").aio_execute()
        return [r.status for r in rows] == [OutboxStatus.SENT] * 3

    await eventually(all_sent)
    rows = await Outbox.select().where(Outbox.purpose == "relay").order_by(Outbox.id).aio_execute()
    assert rows[0].attempts >= 4  # 429, 502, 502, then delivered


async def test_restart_delivers_what_was_left_in_the_outbox(clean_database: str) -> None:
    product = await start_desk(clean_database)
    async with aiohttp.ClientSession() as http:
        desk = Desk(product=product, base_url=product.base_url, http=http)
        await go_online(desk, MANAGER)
        visitor = await Visitor(http, desk.base_url).start()
        await accepted_chat(desk, visitor)
        # Telegram is down long enough for the process to be restarted with messages still queued.
        desk.fake.inject_fault("sendMessage", "5xx", times=1000, status=502)
        await visitor.send("до перезапуска 1")
        await visitor.send("до перезапуска 2")
        await eventually(lambda: len(desk.fake.calls_of("sendMessage")) >= 1 or True)
        await product.stop()
        pending = await _pending_relays(clean_database)
        assert pending == 2

        product = await start_desk(clean_database)
        desk = Desk(product=product, base_url=product.base_url, http=http)
        try:
            # Both were queued together, so the outbox may merge them into one message; their order holds.
            await desk.fake.wait_for_message(MANAGER.id, lambda m: "до перезапуска 2" in (m.text or ""), timeout=10)
            lines = [line for m in desk.fake.messages(MANAGER.id) for line in (m.text or "").splitlines()
                     if line.startswith("до перезапуска")]
            assert lines == ["до перезапуска 1", "до перезапуска 2"]
        finally:
            await product.stop()


async def _pending_relays(url: str) -> int:
    from core.db import make_database
    from models import bind_database

    db = make_database(url)
    bind_database(db)
    try:
        return int(await Outbox.select().where(
            (Outbox.purpose == "relay") & (Outbox.status == OutboxStatus.PENDING)).aio_count())
    finally:
        await db.aio_close()


async def test_history_details_are_paged_when_long(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accepted_chat(desk, visitor)
    for n in range(12):
        await visitor.send(f"Вопрос номер {n}: " + "подробности " * 60)
    # Relays queued together may share a Telegram message: count the questions, not the messages.
    await eventually(lambda: sum((m.text or "").count("Вопрос номер") for m in desk.fake.messages(MANAGER.id)) == 12,
                     timeout=10)
    card = next(m for m in desk.fake.messages(MANAGER.id) if "🔚 Завершить" in m.button_texts)
    await press(desk, MANAGER, card.message_id, "📋 Подробности")
    page = await desk.fake.wait_for_message(MANAGER.id, lambda m: f"Чат #{chat_id}" in (m.text or ""))
    assert "▶️" in page.button_texts and "1/" in " ".join(page.button_texts)
    await press(desk, MANAGER, page.message_id, "▶️")
    edited = await desk.fake.wait_for_edit(MANAGER.id, page.message_id)
    assert "◀️" in edited.button_texts and "Вопрос номер" in edited.text
    assert html.escape("<") not in edited.text


async def test_a_chat_stuck_in_backoff_does_not_hold_up_other_chats(desk: Desk) -> None:
    import datetime as dt
    import json

    from support.outbox import OutgoingCall, enqueue

    desk.fake.register_user(SECOND_MANAGER)
    desk.fake.register_user(MANAGER)
    later = dt.datetime(2100, 1, 1)
    for n in range(250):  # a long backlog for one Telegram chat, all waiting out a backoff
        await Outbox.aio_create(chat_id=SECOND_MANAGER.id, method="sendMessage", next_attempt_at=later,
                                payload=json.dumps({"chat_id": SECOND_MANAGER.id, "text": f"отложено {n}"}))
    await enqueue([OutgoingCall(chat_id=MANAGER.id, method="sendMessage",
                                params={"chat_id": MANAGER.id, "text": "не ждёт чужой очереди"})])
    desk.product.worker.wake()
    message = await desk.fake.wait_for_message(MANAGER.id, lambda m: "не ждёт" in (m.text or ""))
    assert message.text == "не ждёт чужой очереди"
    assert desk.fake.messages(SECOND_MANAGER.id) == []
    await Outbox.delete().where(Outbox.chat_id == SECOND_MANAGER.id).aio_execute()
