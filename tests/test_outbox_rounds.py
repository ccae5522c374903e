"""What an outbox round reads before a Bot API call (support/outbox.py): no statement a lone row does not need, no
read of the table for rows this process committed once a round has shown the queue empty, and still no row
overtaking an earlier one of its chat."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models import Outbox, OutboxStatus
from support import outbox
from support.outbox import OutboxWorker, OutgoingCall, Priority, enqueue
from tests.clients import MANAGER
from tests.conftest import Desk, eventually


async def test_a_lone_head_about_a_chat_goes_without_looking_for_earlier_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    looked: list[tuple[Any, ...]] = []

    async def earlier(*values: Any) -> None:
        looked.append(values)

    monkeypatch.setattr(outbox._EARLIER_ABOUT_CHAT, "first", earlier)
    worker = OutboxWorker(bot=None)  # type: ignore[arg-type]  # nothing is sent here
    relay = Outbox(id=7, chat_id=100, priority=Priority.RELAY, support_chat=3)
    assert await worker._next_for_chat([relay]) is relay
    assert looked == []  # the one relay of its chat: nothing older can exist
    # An urgent row behind an older relay of another priority may overtake a row about its chat: that is looked up.
    urgent = Outbox(id=9, chat_id=100, priority=Priority.URGENT, support_chat=3)
    assert await worker._next_for_chat([relay, urgent]) is urgent  # the stub found no earlier row
    assert looked == [(100, 3, 9)]


def notice(text: str) -> OutgoingCall:
    return OutgoingCall(chat_id=MANAGER.id, method="sendMessage", params={"chat_id": MANAGER.id, "text": text})


async def committed(desk: Desk, text: str) -> None:
    """A call committed by this process through the store, which hands the rows to the worker's wake-up."""
    async with desk.service.store.change() as change:
        await change.send([notice(text)])


def received(desk: Desk) -> list[str]:
    return [m.text or "" for m in desk.fake.messages(MANAGER.id)]


async def without_idle_polls(worker: OutboxWorker) -> None:
    """No idle poll reads the table during the test: the wait running now is ended by a round that finds nothing."""
    worker.idle_poll_seconds = 3600
    worker.wake()
    await asyncio.sleep(0.2)


def counting_reads(monkeypatch: pytest.MonkeyPatch, worker: OutboxWorker) -> list[int]:
    reads: list[int] = []
    read = worker._heads

    async def heads() -> list[Outbox]:
        reads.append(1)
        return await read()

    monkeypatch.setattr(worker, "_heads", heads)
    return reads


async def test_a_round_that_emptied_the_queue_is_not_followed_by_another_read(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    desk.fake.register_user(MANAGER)
    worker = desk.product.worker
    await without_idle_polls(worker)
    reads = counting_reads(monkeypatch, worker)
    async with desk.product.db.aio_atomic():  # as another process commits: rows the worker must read
        await enqueue([notice("первое")])
    worker.wake()
    await eventually(lambda: received(desk) == ["первое"])
    await asyncio.sleep(0.1)
    assert len(reads) == 1  # the round that sent it showed nothing else pending: no second read at once
    await committed(desk, "второе")  # committed here: the worker has the row from its wake-up
    await eventually(lambda: received(desk) == ["первое", "второе"])
    assert len(reads) == 1
    assert await Outbox.select().where(Outbox.status != OutboxStatus.SENT).aio_count() == 0


async def test_a_row_from_memory_does_not_overtake_an_earlier_row_of_its_chat(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    desk.fake.register_user(MANAGER)
    worker = desk.product.worker
    await without_idle_polls(worker)
    await committed(desk, "первое")
    await eventually(lambda: received(desk) == ["первое"])
    reads = counting_reads(monkeypatch, worker)
    # Another process commits a call for the same chat; its NOTIFY has not arrived when this process commits.
    async with desk.product.db.aio_atomic():
        await enqueue([notice("второе, из другого процесса")])
    await committed(desk, "третье")
    await eventually(lambda: len(received(desk)) == 3)
    assert received(desk) == ["первое", "второе, из другого процесса", "третье"]
    assert reads  # the row from memory did not go: the table was read


def test_a_send_that_did_not_leave_gives_its_share_back() -> None:
    from support.pacing import PaceLimits, Pacer

    now = [100.0]
    pacer = Pacer(PaceLimits(per_chat_rate=1.0, per_chat_burst=3, latency_allowance=0.0), clock=lambda: now[0])
    for _ in range(3):
        assert pacer.try_take(42, "sendMessage") == 0.0
    assert pacer.try_take(42, "sendMessage") > 0.0  # the burst is spent
    pacer.give_back(42, "sendMessage")
    assert pacer.try_take(42, "sendMessage") == 0.0  # the one returned goes at once
    pacer.give_back(42, "editMessageText")  # edits take nothing, so give nothing back
    assert pacer.try_take(42, "sendMessage") > 0.0
    for _ in range(5):
        pacer.give_back(42, "sendMessage")
    assert pacer._chats[42].tokens == 3.0  # never more than a full burst
