"""The claim on a Telegram update: handled once across processes, never lost when a handler's process dies.

Each `UpdateClaims` stands for one process (it shares nothing in memory with another); the database is the only
thing between them, as between run.py processes (tests/test_update_redelivery.py runs those).
"""

from __future__ import annotations

import asyncio

import pytest

from models import ProcessedUpdate, utcnow
from support.update_claims import UpdateClaims
from tests.conftest import Desk

LEASE = 0.8


async def _handle(claims: UpdateClaims, update_id: int, ran: list[str], name: str, seconds: float = 0.0) -> bool:
    async with claims.handling(update_id) as ours:
        if ours:
            ran.append(name)
            await asyncio.sleep(seconds)
    return ours


async def test_a_claim_left_by_a_dead_process_is_handled_after_its_lease(desk: Desk) -> None:
    await ProcessedUpdate.aio_create(update_id=11, claimed_by="killed-mid-handler", claimed_at=utcnow())
    ran: list[str] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _handle(UpdateClaims(lease_seconds=LEASE), 11, ran, "redelivery") is True
    assert ran == ["redelivery"]
    assert loop.time() - started >= LEASE  # not before the holder had its lease to renew
    row = await ProcessedUpdate.aio_get(ProcessedUpdate.update_id == 11)
    assert row.processed_at is not None


async def test_the_same_update_at_two_processes_at_once_is_handled_once(desk: Desk) -> None:
    ran: list[str] = []
    # The first runs three leases long: its renewals keep the second waiting, never taking over.
    first = asyncio.create_task(_handle(UpdateClaims(lease_seconds=LEASE), 12, ran, "first", 3 * LEASE))
    await asyncio.sleep(0.1)
    second = await _handle(UpdateClaims(lease_seconds=LEASE), 12, ran, "second")
    assert first.done() and await first is True  # the second answered only once the first had finished
    assert second is False and ran == ["first"]


async def test_a_redelivery_after_success_does_nothing(desk: Desk) -> None:
    ran: list[str] = []
    claims = UpdateClaims(lease_seconds=LEASE)
    assert await _handle(claims, 13, ran, "first") is True
    assert await _handle(UpdateClaims(lease_seconds=LEASE), 13, ran, "again") is False
    assert ran == ["first"]


async def test_a_handler_that_failed_leaves_the_update_to_its_redelivery(desk: Desk) -> None:
    claims = UpdateClaims(lease_seconds=LEASE)
    with pytest.raises(RuntimeError):
        async with claims.handling(14) as ours:
            assert ours
            raise RuntimeError("Bot API down")
    assert await ProcessedUpdate.aio_get_or_none(ProcessedUpdate.update_id == 14) is None
    ran: list[str] = []
    assert await _handle(claims, 14, ran, "retry") is True and ran == ["retry"]


async def test_a_waiting_redelivery_takes_the_update_when_the_holder_fails(desk: Desk) -> None:
    ran: list[str] = []

    async def failing() -> None:
        async with UpdateClaims(lease_seconds=LEASE).handling(15) as ours:
            assert ours
            await asyncio.sleep(0.5)
            raise RuntimeError("handler failed")

    holder = asyncio.create_task(failing())
    await asyncio.sleep(0.1)
    assert await _handle(UpdateClaims(lease_seconds=10), 15, ran, "redelivery") is True  # no lease to wait out
    assert ran == ["redelivery"]
    with pytest.raises(RuntimeError):
        await holder
