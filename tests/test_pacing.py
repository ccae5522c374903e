"""Telegram pacing: the outbox keeps under the flood limits a fake Bot API enforces, sends the urgent first,
merges relays queued for one manager, and lets a 429 hold only its own chat (real aiogram stack throughout)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.callbacks import ChatAction, ChatCallback
from models import Outbox, OutboxStatus
from sandbox.bot_api import FakeUser
from sandbox.limits import FloodLimits
from support.outbox import OutgoingCall, Priority, enqueue
from tests.clients import MANAGER, Visitor, go_online, offer_to, press
from tests.conftest import PACED, Desk, eventually, running_desk, start_desk


@pytest.fixture
async def desk(clean_database: str) -> AsyncIterator[Desk]:
    """The desk with pacing on: tests/conftest.py turns it off for the tests that are not about it."""
    async for running in running_desk(clean_database, **PACED):
        yield running


def notice(chat_id: int, text: str, priority: Priority = Priority.URGENT) -> OutgoingCall:
    return OutgoingCall(chat_id=chat_id, method="sendMessage", params={"chat_id": chat_id, "text": text},
                        priority=priority)


async def enqueue_together(desk: Desk, calls: list[OutgoingCall]) -> None:
    """Rows committed at once, as a busy moment leaves them, then the worker woken."""
    async with desk.product.db.aio_atomic():
        await enqueue(calls)
    desk.product.worker.wake()


async def all_sent(count: int) -> bool:
    rows = await Outbox.select().where(Outbox.status == OutboxStatus.SENT).aio_execute()
    return len(rows) >= count


async def nothing_pending() -> bool:
    """Nothing queued and nothing on its way (a call in flight is marked sending)."""
    return not await Outbox.select().where(
        Outbox.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])).aio_execute()


def texts(desk: Desk, chat_id: int) -> list[str]:
    return [m.text or "" for m in desk.fake.messages(chat_id)]


async def accept(desk: Desk, visitor: Visitor, name: str) -> int:
    result = await visitor.transfer(name=name)
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Режим ответа" in (m.text or ""))
    return int(result["support_chat_id"])


async def test_one_chat_is_paced_to_its_limit_without_a_429(desk: Desk) -> None:
    desk.fake.register_user(MANAGER)
    desk.fake.flood.enable()
    await enqueue_together(desk, [notice(MANAGER.id, f"уведомление {n}") for n in range(1, 7)])
    await eventually(lambda: all_sent(6), timeout=15)
    assert desk.fake.flood.hits == []
    assert texts(desk, MANAGER.id) == [f"уведомление {n}" for n in range(1, 7)]
    sends = [call.time for call in desk.fake.calls_of("sendMessage") if call.ok]
    # Three may go at once; the other three need about a second each.
    assert sends[-1] - sends[0] >= 2.5


async def test_the_bot_keeps_under_its_own_rate_across_chats(clean_database: str) -> None:
    product = await start_desk(clean_database, TELEGRAM_MAX_SENDS_PER_SECOND="8", **PACED)
    async with aiohttp.ClientSession() as http:
        desk = Desk(product=product, base_url=product.base_url, http=http)
        try:
            users = [FakeUser(id=700_000 + n, first_name=f"Получатель {n}") for n in range(32)]
            for user in users:
                desk.fake.register_user(user)
            # The fake allows the bot 10 a second; the product is configured for 8.
            desk.fake.flood.enable(FloodLimits(per_bot_rate=10, per_bot_burst=10))
            await enqueue_together(desk, [notice(user.id, f"привет {user.id}") for user in users])
            await eventually(lambda: all_sent(32), timeout=15)
            assert desk.fake.flood.hits == []
            sends = sorted(call.time for call in desk.fake.calls_of("sendMessage") if call.ok)
            assert sends[-1] - sends[0] >= (32 - 8) / 8 * 0.9
        finally:
            await product.stop()


async def test_urgent_rows_go_before_relays_and_relays_before_bulk(desk: Desk) -> None:
    desk.fake.register_user(MANAGER)
    desk.fake.flood.enable()
    await enqueue_together(desk, [
        notice(MANAGER.id, "итоги дня", Priority.BULK),
        *(notice(MANAGER.id, f"сообщение {n}", Priority.RELAY) for n in range(1, 4)),
        notice(MANAGER.id, "новый чат", Priority.URGENT),
    ])
    await eventually(lambda: all_sent(5), timeout=15)
    assert texts(desk, MANAGER.id) == ["новый чат", "сообщение 1", "сообщение 2", "сообщение 3", "итоги дня"]
    assert desk.fake.flood.hits == []


async def test_relays_for_one_manager_are_merged_in_order_with_a_reply_button_per_client(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    ivan, maria = Visitor(desk.http, desk.base_url), Visitor(desk.http, desk.base_url)
    await ivan.start()
    await maria.start()
    ivan_chat = await accept(desk, ivan, "Иван <Таксист>")
    maria_chat = await accept(desk, maria, "Мария")
    desk.fake.flood.enable()
    before = len(desk.fake.calls_of("sendMessage"))
    for n in range(1, 7):
        await ivan.send(f"Иван пишет {n} <b>&")
        await maria.send(f"Мария пишет {n}")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Мария пишет 6" in (m.text or ""), timeout=15)
    await eventually(nothing_pending, timeout=5)
    assert desk.fake.flood.hits == []
    relayed = [m for m in desk.fake.messages(MANAGER.id) if "пишет" in (m.text or "")]
    assert len(desk.fake.calls_of("sendMessage")) - before == len(relayed) < 12
    lines = [line for m in relayed for line in (m.text or "").splitlines()]
    assert [line for line in lines if line.startswith("Иван")] == [f"Иван пишет {n} <b>&" for n in range(1, 7)]
    assert [line for line in lines if line.startswith("Мария")] == [f"Мария пишет {n}" for n in range(1, 7)]
    merged = next(m for m in relayed if "Иван пишет" in (m.text or "") and "Мария пишет" in (m.text or ""))
    assert f"Иван <Таксист> · чат #{ivan_chat}" in (merged.text or "")
    assert f"Мария · чат #{maria_chat}" in (merged.text or "")
    replies = {ChatCallback.unpack(button["callback_data"]).chat_id: button["text"]
               for row in (merged.reply_markup or {})["inline_keyboard"] for button in row
               if ChatCallback.unpack(button["callback_data"]).action == ChatAction.REPLY}
    assert replies == {ivan_chat: "💬 Ответить · Иван <Таксист>", maria_chat: "💬 Ответить · Мария"}
    # Every merged row is marked sent with the one Telegram message it went out in.
    rows = await Outbox.select().where(Outbox.purpose == "relay").aio_execute()
    assert {row.status for row in rows} == {OutboxStatus.SENT}
    assert len({row.telegram_message_id for row in rows}) == len(relayed)
    # The per-client button still answers that client.
    await press(desk, MANAGER, merged.message_id, "💬 Ответить · Мария")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Режим ответа" in (m.text or ""))
    await desk.fake.send_message(MANAGER, "Здравствуйте, Мария!")
    await maria.wait_for(lambda e: e.get("text") == "Здравствуйте, Мария!")


async def test_a_429_holds_only_its_own_chat(desk: Desk) -> None:
    other = FakeUser(id=700_001, first_name="Другой")
    desk.fake.register_user(MANAGER)
    desk.fake.register_user(other)
    desk.fake.inject_fault("sendMessage", "429", times=1, retry_after=3)
    await enqueue_together(desk, [notice(MANAGER.id, "первое", Priority.RELAY)])
    await eventually(lambda: bool(desk.fake.flood.hits), timeout=5)
    refused_at = desk.fake.flood.hits[0].time
    # An urgent row for the refused chat must wait out retry_after too; another chat goes at once.
    await enqueue_together(desk, [notice(MANAGER.id, "срочное"), notice(other.id, "соседу")])
    await eventually(lambda: all_sent(3), timeout=10)
    sent = {call.params["text"]: call.time for call in desk.fake.calls_of("sendMessage") if call.ok}
    assert sent["соседу"] - refused_at < 1.5
    assert sent["срочное"] - refused_at >= 2.9 and sent["первое"] - refused_at >= 2.9
    assert len(desk.fake.flood.hits) == 1


async def test_restart_with_a_full_outbox_sends_everything_paced_and_merged(clean_database: str) -> None:
    product = await start_desk(clean_database, **PACED)
    async with aiohttp.ClientSession() as http:
        desk = Desk(product=product, base_url=product.base_url, http=http)
        await go_online(desk, MANAGER)
        visitors = [await Visitor(http, desk.base_url).start() for _ in range(3)]
        for n, visitor in enumerate(visitors):
            await accept(desk, visitor, f"Клиент {n}")
        # The accepts' own sends (cards, a colleague's stale buttons) are paced too: let them out first, so that
        # what stays queued below is exactly the visitors' messages.
        await eventually(nothing_pending, timeout=15)
        await product.worker.stop()  # Telegram unreachable: the visitors' messages stay queued
        for round_ in range(1, 9):
            for n, visitor in enumerate(visitors):
                await visitor.send(f"клиент {n}: {round_}")
        pending = await Outbox.select().where(Outbox.status == OutboxStatus.PENDING).aio_execute()
        assert len(pending) == 24
        await product.stop()

    product = await start_desk(clean_database, **PACED)
    try:
        fake = product.fake
        fake.register_user(MANAGER)
        fake.flood.enable()
        await eventually(nothing_pending, timeout=15)
        assert fake.flood.hits == []
        lines = [line for m in fake.messages(MANAGER.id) for line in (m.text or "").splitlines()]
        for n in range(3):
            assert [line for line in lines if line.startswith(f"клиент {n}:")] == [
                f"клиент {n}: {r}" for r in range(1, 9)]
        assert len(fake.calls_of("sendMessage")) <= 4
    finally:
        await product.stop()
