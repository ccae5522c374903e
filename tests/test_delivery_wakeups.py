"""A delivery worker never sleeps on a wake-up that came while its round was running (support/delivery.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from support.delivery import DeliveryWorker

AN_HOUR = 3600.0


class CommitDuringTheRound(DeliveryWorker):
    """Its first round is told of a new row after it read the queue (a commit that raced the read) and finds
    nothing due; its next idle poll is an hour away."""

    name = "test"

    def __init__(self) -> None:
        super().__init__(idle_poll_seconds=AN_HOUR)
        self.rounds = 0
        self.second_round = asyncio.Event()

    async def deliver_due(self) -> tuple[int, float]:
        self.rounds += 1
        if self.rounds == 1:
            await asyncio.sleep(0)  # the queue read
            self.wake()  # the visitor's transaction commits now, after the read
            return 0, AN_HOUR
        self.second_round.set()
        return 0, AN_HOUR

    async def _deliver(self, row: Any) -> int:
        raise AssertionError("no rows here")


async def test_a_wake_up_during_a_round_starts_the_next_round_instead_of_waiting_for_the_poll() -> None:
    worker = CommitDuringTheRound()
    worker.start()
    try:
        # Without the fix the wake-up is cleared after the round and the worker sleeps until its hourly poll
        # (this wait then runs into the test's deadline).
        await worker.second_round.wait()
        assert worker.rounds == 2
    finally:
        await worker.stop()
