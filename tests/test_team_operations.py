"""Running the team: routing and escalation, the queue, transfers, scheduled jobs, ratings, working hours."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import aiohttp

from models import Manager, SupportChat
from tests.clients import (
    ADMIN,
    MANAGER,
    SECOND_MANAGER,
    STRANGER,
    Visitor,
    close_chat,
    go_online,
    is_type,
    offer_to,
    press,
    say,
)
from tests.conftest import Desk, eventually, running_desk, start_desk


def is_offer(message: object) -> bool:
    return "✅ Принять чат" in getattr(message, "button_texts", [])


async def accept_new_chat(desk: Desk, visitor: Visitor, manager=MANAGER) -> int:  # type: ignore[no-untyped-def]
    result = await visitor.transfer(name=f"Клиент {visitor.session_id[:4]}")
    offer = await offer_to(desk, manager)
    await press(desk, manager, offer.message_id, "✅ Принять чат")
    await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    # The offer becomes the chat card (with its buttons) through the outbox, which may still be on its way.
    await eventually(lambda: any("🔚 Завершить" in m.button_texts for m in desk.fake.messages(manager.id)))
    return int(result["support_chat_id"])


async def rewind(chat_id: int, **fields: dt.timedelta) -> None:
    """Move a chat's timestamps into the past instead of sleeping through real timeouts."""
    chat = await SupportChat.aio_get(SupportChat.id == chat_id)
    await SupportChat.update({getattr(SupportChat, name): getattr(chat, name) - delta
                              for name, delta in fields.items()}).where(SupportChat.id == chat_id).aio_execute()


async def test_a_configured_manager_may_start_with_online_before_ever_writing_start(desk: Desk) -> None:
    # MANAGER_IDS lets them in: the seed's order (/start, then /online) is the usual one, not the only one.
    assert "Смена начата" in await say(desk, MANAGER, "/online")
    manager = await Manager.aio_get(Manager.telegram_id == MANAGER.id)
    assert manager.is_online
    assert "нет доступа" in await say(desk, STRANGER, "/online")  # nobody else is let in that way
    assert not await Manager.select().where(Manager.telegram_id == STRANGER.id).aio_exists()


async def test_least_busy_online_manager_gets_the_chat_and_offline_ones_never(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    await go_online(desk, SECOND_MANAGER)
    busy = await Visitor(desk.http, desk.base_url).start()
    await busy.transfer(name="Первый")
    await eventually(lambda: any(is_offer(m) for m in desk.fake.messages(MANAGER.id) + desk.fake.messages(
        SECOND_MANAGER.id)))
    first_target = MANAGER if any(is_offer(m) for m in desk.fake.messages(MANAGER.id)) else SECOND_MANAGER
    other = SECOND_MANAGER if first_target is MANAGER else MANAGER
    offer = await offer_to(desk, first_target)
    await press(desk, first_target, offer.message_id, "✅ Принять чат")
    await busy.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    # The manager with a chat in work is busier: the next chat goes to the other one.
    second = await Visitor(desk.http, desk.base_url).start()
    await second.transfer(name="Второй")
    assert "Второй" in (await offer_to(desk, other)).text
    # An offline manager never gets a chat (and the offer they had moves to the one still online).
    await desk.fake.send_message(other, "/offline")
    await desk.fake.wait_for_message(other.id, lambda m: "Смена завершена" in (m.text or ""))
    third = await Visitor(desk.http, desk.base_url).start()
    await third.transfer(name="Третий")
    rerouted = await desk.fake.wait_for_message(first_target.id, lambda m: is_offer(m) and "Второй" in m.text)
    assert "✅ Принять чат" in rerouted.button_texts
    third_offer = await desk.fake.wait_for_message(first_target.id, lambda m: is_offer(m) and "Третий" in m.text)
    assert third_offer is not None
    await asyncio.sleep(0.3)
    assert not [m for m in desk.fake.messages(other.id) if "Третий" in (m.text or "")]


async def test_unaccepted_offer_is_broadcast_and_the_first_notification_edited(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = int((await visitor.transfer(name="Таймаут"))["support_chat_id"])
    first = await offer_to(desk, MANAGER)
    await go_online(desk, SECOND_MANAGER)  # came online after the offer went out
    await rewind(chat_id, offered_at=dt.timedelta(seconds=desk.service.policy.accept_timeout_seconds + 1))
    assert await desk.product.jobs.expire_offers() == 1
    assert await desk.product.jobs.expire_offers() == 0  # safe to run twice
    edited = await desk.fake.wait_for_edit(MANAGER.id, first.message_id)
    assert "не приняли" in edited.text and "✅ Принять чат" in edited.button_texts
    broadcast = await offer_to(desk, SECOND_MANAGER)
    await press(desk, SECOND_MANAGER, broadcast.message_id, "✅ Принять чат")
    taken = await desk.fake.wait_for_edit(MANAGER.id, first.message_id, lambda m: "принял" in (m.text or ""))
    assert "Борис" in taken.text and taken.button_texts == []


async def test_missed_offers_switch_an_absent_manager_offline(desk: Desk) -> None:
    desk.fake.register_user(ADMIN)
    await go_online(desk, MANAGER)
    limit = desk.service.policy.missed_offers_before_offline
    for n in range(limit):
        visitor = await Visitor(desk.http, desk.base_url).start()
        chat_id = int((await visitor.transfer(name=f"Пропущенный {n}"))["support_chat_id"])
        await offer_to(desk, MANAGER)
        await rewind(chat_id, offered_at=dt.timedelta(hours=1))
        await desk.product.jobs.expire_offers()
    told = await desk.fake.wait_for_message(MANAGER.id, lambda m: "пропустили" in (m.text or ""))
    assert "/online" in told.text
    assert (await Manager.aio_get(Manager.telegram_id == MANAGER.id)).is_online is False
    admin_note = await desk.fake.wait_for_message(ADMIN.id, lambda m: "переведён в офлайн" in (m.text or ""))
    assert "Анна Смирнова" in admin_note.text


async def test_queue_positions_are_told_and_updated(desk: Desk) -> None:
    visitors = [await Visitor(desk.http, desk.base_url).start() for _ in range(3)]
    for visitor in visitors:
        assert (await visitor.transfer(name="В очереди"))["status"] == "queued"
    told = [await v.wait_for(lambda e: "queue" in e) for v in visitors]
    assert [event["queue"]["position"] for event in told] == [1, 2, 3]
    # Nobody is online: a place in the queue, and no estimate that nobody could keep.
    assert [event["text"] for event in told] == [
        "🕐 Вы первый в очереди.", "🕐 Вы второй в очереди.", "🕐 Вы третий в очереди."]
    assert all(event["queue"]["eta_minutes"] is None for event in told)
    await go_online(desk, MANAGER)
    offers = [await offer_to(desk, MANAGER) for _ in range(3)]
    first_chat = (await visitors[0].state())["support_chat_id"]
    first = next(o for o in offers if f"#{first_chat}" in o.text)
    await press(desk, MANAGER, first.message_id, "✅ Принять чат")
    moved = await visitors[2].wait_for(lambda e: e.get("queue", {}).get("position") == 2)
    assert moved["text"].startswith("🕐 Вы второй в очереди. Примерное ожидание — около ")
    assert moved["queue"]["eta_minutes"] >= 1  # someone is online now: the estimate rests on them
    assert (await visitors[1].wait_for(lambda e: e.get("queue", {}).get("position") == 1))


async def test_transfer_to_a_colleague_with_a_note(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accept_new_chat(desk, visitor)
    card = next(m for m in desk.fake.messages(MANAGER.id) if "↪️ Передать" in m.button_texts)
    answer = await press(desk, MANAGER, card.message_id, "↪️ Передать")
    assert answer["show_alert"] is True and "некому" in answer["text"]  # nobody else online yet
    await go_online(desk, SECOND_MANAGER)
    await press(desk, MANAGER, card.message_id, "↪️ Передать")
    choice = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Кому передать" in (m.text or ""))
    assert choice.button_texts == ["Борис — чатов: 0"]
    await press(desk, MANAGER, choice.message_id, "Борис — чатов: 0")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "заметку" in (m.text or ""))
    await desk.fake.send_message(MANAGER, "Спрашивал про аренду, ждёт расчёт")
    done = await desk.fake.wait_for_message(MANAGER.id, lambda m: "передан" in (m.text or ""))
    assert "Борис" in done.text
    handed = await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "передал" in (m.text or ""))
    assert "Спрашивал про аренду, ждёт расчёт" in handed.text and "💬 Ответить" in handed.button_texts
    told = await visitor.wait_for(lambda e: "Теперь с вами Борис, менеджер" in e["text"])
    assert told["chat"]["manager"] == "Борис"
    # The chat is Boris's now: Anna's old buttons are refused, Boris's reply reaches the visitor.
    refused = await press(desk, MANAGER, card.message_id, "🔚 Завершить")
    assert refused["show_alert"] is True
    await press(desk, SECOND_MANAGER, handed.message_id, "💬 Ответить")
    await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "Режим ответа" in (m.text or ""))
    await desk.fake.send_message(SECOND_MANAGER, "Здравствуйте, это Борис")
    reply = await visitor.wait_for(is_type("manager_message"))
    assert reply["author"]["name"] == "Борис"
    assert (await SupportChat.aio_get(SupportChat.id == chat_id)).transfer_note == "Спрашивал про аренду, ждёт расчёт"


async def test_idle_chat_is_warned_then_closed_by_the_scheduler(clean_database: str) -> None:
    product = await start_desk(clean_database, IDLE_CLOSE_SECONDS="2", JOBS_INTERVAL_SECONDS="0.2")
    async with aiohttp.ClientSession() as http:
        desk = Desk(product=product, base_url=product.base_url, http=http)
        try:
            await go_online(desk, MANAGER)
            visitor = await Visitor(http, desk.base_url).start()
            chat_id = await accept_new_chat(desk, visitor)
            warning = await visitor.wait_for(lambda e: "скоро закроется" in e["text"], timeout=10)
            closed = await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "closed", timeout=10)
            assert closed["id"] > warning["id"] and "отсутствия активности" in closed["text"]
            assert "rating_request" not in closed  # never asked to rate an idle close
            told = await desk.fake.wait_for_message(MANAGER.id, lambda m: "закрыт автоматически" in (m.text or ""))
            assert f"#{chat_id}" in told.text
            chat = await SupportChat.aio_get(SupportChat.id == chat_id)
            assert (chat.status, chat.close_reason) == ("closed", "idle")
            assert (await visitor.state())["mode"] == "ai"
        finally:
            await product.stop()


async def test_unanswered_visitor_reminds_the_manager_then_the_admins(clean_database: str) -> None:
    product = await start_desk(clean_database, REMINDER_SECONDS="60")
    async with aiohttp.ClientSession() as http:
        desk = Desk(product=product, base_url=product.base_url, http=http)
        try:
            desk.fake.register_user(ADMIN)
            await go_online(desk, MANAGER)
            visitor = await Visitor(http, desk.base_url).start()
            chat_id = await accept_new_chat(desk, visitor)
            jobs = product.jobs
            await visitor.send("Алло, вы тут?")
            assert await jobs.remind_unanswered() == 0  # not yet late
            await _age_messages(chat_id, dt.timedelta(seconds=61))
            assert await jobs.remind_unanswered() == 1
            assert await jobs.remind_unanswered() == 0  # once per unanswered message
            reminder = await desk.fake.wait_for_message(MANAGER.id, lambda m: "ждёт ответа" in (m.text or ""))
            assert "1 мин" in reminder.text
            await _age_messages(chat_id, dt.timedelta(seconds=60))
            assert await jobs.remind_unanswered() == 1
            alert = await desk.fake.wait_for_message(ADMIN.id, lambda m: "ждёт ответа" in (m.text or ""))
            assert "Анна Смирнова" in alert.text
            # An answer stops the reminders.
            await desk.fake.send_message(MANAGER, "Да, я тут")
            await visitor.wait_for(is_type("manager_message"))
            await _age_messages(chat_id, dt.timedelta(minutes=10))
            assert await jobs.remind_unanswered() == 0
        finally:
            await product.stop()


async def _age_messages(chat_id: int, delta: dt.timedelta) -> None:
    from models import ChatMessage

    for message in await ChatMessage.select().where(ChatMessage.support_chat == chat_id).aio_execute():
        await ChatMessage.update(created_at=message.created_at - delta).where(
            ChatMessage.id == message.id).aio_execute()
    await rewind(chat_id, assigned_at=delta)


async def test_visitor_rates_a_closed_chat_once_and_the_manager_sees_it(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accept_new_chat(desk, visitor)
    card = next(m for m in desk.fake.messages(MANAGER.id) if "🔚 Завершить" in m.button_texts)
    await close_chat(desk, MANAGER, card.message_id)
    closed = await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "closed")
    assert closed["rating_request"] == {"support_chat_id": chat_id}
    url = f"{desk.base_url}/api/chat/rate"
    body = {"session_id": visitor.session_id, "support_chat_id": chat_id}
    async with desk.http.post(url, json={**body, "rating": 6}, headers=visitor.auth) as response:
        assert response.status == 400
    async with desk.http.post(url, json={**body, "rating": 5, "comment": "Быстро <и> понятно"},
                              headers=visitor.auth) as response:
        assert response.status == 200
    async with desk.http.post(url, json={**body, "rating": 1}, headers=visitor.auth) as response:
        assert response.status == 409
    stars = await desk.fake.wait_for_message(MANAGER.id, lambda m: "оценил" in (m.text or ""))
    assert "5/5" in stars.text and "Быстро <и> понятно" in stars.text
    chat = await SupportChat.aio_get(SupportChat.id == chat_id)
    assert (chat.rating, chat.rating_comment) == (5, "Быстро <и> понятно")
    other = await Visitor(desk.http, desk.base_url).start()
    async with desk.http.post(url, json={"session_id": other.session_id, "support_chat_id": chat_id, "rating": 1},
                              headers=other.auth) as response:
        assert response.status == 404  # not this visitor's chat


async def test_outside_working_hours_the_handoff_becomes_a_lead(clean_database: str) -> None:
    now = dt.datetime.now(ZoneInfo("Europe/Moscow"))
    start, end = (now + dt.timedelta(hours=2)), (now + dt.timedelta(hours=3))
    product = await start_desk(clean_database, WORKING_HOURS=f"{start:%H}:00-{end:%H}:00")
    async with aiohttp.ClientSession() as http:
        desk = Desk(product=product, base_url=product.base_url, http=http)
        try:
            desk.fake.register_user(ADMIN)
            await go_online(desk, MANAGER)  # even an online manager is not bothered out of hours
            visitor = await Visitor(http, desk.base_url).start()
            state = await visitor.state()
            assert state["support_open"] is False and state["opens_at"].startswith(f"{start:%Y-%m-%d}")
            result = await visitor.transfer(name="Вечерний", phone="+7 900 555-44-33")
            assert result["status"] == "queued"
            notice = await visitor.wait_for(lambda e: e.get("chat", {}).get("after_hours"))
            assert f"{start:%H}:00 (МСК)" in notice["text"]
            assert not [e for e in await visitor.poll(after=0) if "queue" in e]  # no minutes estimate at night
            lead = await desk.fake.wait_for_message(ADMIN.id, lambda m: "нерабочее время" in (m.text or ""))
            assert "+7 900 555-44-33" in lead.text and "Вечерний" in lead.text
            await asyncio.sleep(0.3)
            assert not [m for m in desk.fake.messages(MANAGER.id) if is_offer(m)]
        finally:
            await product.stop()


async def test_ai_may_answer_while_waiting_and_stops_once_accepted(desk: Desk) -> None:
    service = desk.service
    service.policy = service.policy.model_copy(update={"ai_while_waiting": True})
    visitor = await Visitor(desk.http, desk.base_url).start()
    await visitor.transfer(name="Ждущий")
    asked = await visitor.send("Какие документы нужны?")
    answer = await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > asked["id"])
    assert "паспорт" in answer["text"].lower()
    await go_online(desk, MANAGER)
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    asked = await visitor.send("А сколько стоит аренда?")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "сколько стоит аренда" in (m.text or ""))
    await asyncio.sleep(0.5)
    assert not [e for e in await visitor.poll(after=asked["id"]) if e["type"] == "ai_message"]


async def test_daily_summary_reaches_the_admins(desk: Desk) -> None:
    desk.fake.register_user(ADMIN)
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await accept_new_chat(desk, visitor)
    await Visitor(desk.http, desk.base_url).start()
    waiting = await Visitor(desk.http, desk.base_url).start()
    await desk.fake.send_message(MANAGER, "/offline")
    await waiting.transfer(name="Ждёт")
    await desk.product.jobs.daily_summary()
    summary = await desk.fake.wait_for_message(ADMIN.id, lambda m: "Итоги дня" in (m.text or ""))
    assert "Новых чатов: 2" in summary.text and "Принято менеджерами: 1" in summary.text
    assert "Ждут в очереди сейчас: 1" in summary.text


async def test_going_offline_hands_pending_offers_to_someone_online(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await visitor.transfer(name="Переезжающий")
    await offer_to(desk, MANAGER)
    await go_online(desk, SECOND_MANAGER)  # the chat is Anna's offer: Boris is not offered it on arrival
    await asyncio.sleep(0.3)
    assert not [m for m in desk.fake.messages(SECOND_MANAGER.id) if "Переезжающий" in (m.text or "")]
    await desk.fake.send_message(MANAGER, "/offline")
    assert "Смена завершена" in (await desk.fake.wait_for_message(MANAGER.id, lambda m: "Смена" in m.text)).text
    offer = await offer_to(desk, SECOND_MANAGER)
    assert "Переезжающий" in offer.text
    chat = await SupportChat.aio_get(SupportChat.client_name == "Переезжающий")
    manager = await Manager.aio_get(Manager.telegram_id == SECOND_MANAGER.id)
    assert chat.offered_manager_id == manager.id and chat.offered_at is not None


async def test_housekeeping_trims_old_records_but_never_pending_calls(desk: Desk) -> None:
    from models import Outbox, ProcessedUpdate, utcnow

    old = dt.datetime(2020, 1, 1)
    await ProcessedUpdate.aio_create(update_id=1, processed_at=old)
    await ProcessedUpdate.aio_create(update_id=2, processed_at=utcnow())
    await ProcessedUpdate.aio_create(update_id=3, claimed_by="dead-long-ago", claimed_at=old)
    await ProcessedUpdate.aio_create(update_id=4, claimed_by="handling-now", claimed_at=utcnow())
    sent = await Outbox.aio_create(chat_id=1, method="sendMessage", payload="{}", status="sent", created_at=old)
    pending = await Outbox.aio_create(chat_id=1, method="sendMessage", payload="{}", status="pending",
                                      created_at=old, next_attempt_at=dt.datetime(2100, 1, 1))
    jobs = desk.product.jobs
    assert await jobs.prune_processed_updates() == 2
    assert await jobs.prune_delivered_calls() == 1
    assert await jobs.prune_delivered_calls() == 0
    assert await Outbox.aio_get_or_none(Outbox.id == sent.id) is None
    assert await Outbox.aio_get_or_none(Outbox.id == pending.id) is not None
    assert sorted(u.update_id for u in await ProcessedUpdate.select().aio_execute()) == [2, 4]
    await Outbox.delete().where(Outbox.id == pending.id).aio_execute()


async def test_a_restarted_sandbox_is_heard_on_the_same_database(clean_database: str) -> None:
    # The desk remembers handled update ids; a sandbox numbering its updates from the start again after a restart
    # had every message ignored as a repeat ("make run" twice was enough).
    for attempt in range(2):
        async for desk in running_desk(clean_database):
            assert "рабочее место" in await say(desk, MANAGER, "/start"), attempt
