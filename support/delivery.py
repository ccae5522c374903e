"""The loop shared by the persisted delivery queues (Telegram outbox, integration webhooks).

Rows are the queue: a worker takes, per destination, the oldest pending row that is due, tries it, and marks
it sent, failed for good, or due again later. Nothing lives only in memory, so a restart resumes the queue.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


def backoff(attempts: int) -> float:
    """Exponential with jitter, so many failed calls do not all retry in the same instant."""
    base: float = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(attempts, 10))
    return base * random.uniform(0.8, 1.2)


class DeliveryWorker(abc.ABC):
    name = "delivery"

    def __init__(self, *, batch: int = 200, idle_poll_seconds: float = 1.0) -> None:
        self.batch = batch
        self.idle_poll_seconds = idle_poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @abc.abstractmethod
    async def deliver_due(self) -> tuple[int, float]:
        """One round; returns (how many were delivered, seconds until the next row is due)."""

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-worker")

    async def stop(self) -> None:
        """Finish the round in flight, then stop; what is left stays pending for the next start."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                delivered, next_due = await self.deliver_due()
            except Exception:
                log.exception("%s round failed; retrying shortly", self.name)
                delivered, next_due = 0, self.idle_poll_seconds
            if delivered and not self._stopping:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(next_due, self.idle_poll_seconds))
