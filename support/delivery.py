"""The loop shared by the persisted delivery queues (Telegram outbox, integration webhooks).

Rows are the queue: a worker takes, per destination, the oldest pending row that is due, tries it, and marks
it sent, failed for good, or due again later. Nothing lives only in memory, so a restart resumes the queue.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime as dt
import functools
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import peewee

from core.db import PreparedQuery
from models import OutboxStatus, utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


def backoff(attempts: int) -> float:
    """Exponential with jitter, so many failed calls do not all retry in the same instant."""
    base: float = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(attempts, 10))
    return base * random.uniform(0.8, 1.2)


# Every statement a worker runs on each row, rendered once per table and shape (core.db.PreparedQuery): peewee's
# rendering cost more than the statements themselves, and the outbox's run between a commit and a Bot API call.
@functools.cache
def _heads_query(model: Any, destination: str) -> PreparedQuery:
    def build(limit: int) -> peewee.Query:
        oldest = model.select(peewee.fn.MIN(model.id)).where(model.status == OutboxStatus.PENDING).group_by(
            getattr(model, destination))
        return model.select().where(model.id.in_(oldest)).order_by(model.id).limit(limit)

    return PreparedQuery(model, build)


@functools.cache
def _retry_query(model: Any) -> PreparedQuery:
    return PreparedQuery(model, lambda due, error, row_id: model.update(
        status=OutboxStatus.PENDING, attempts=model.attempts + 1, next_attempt_at=due, last_error=error,
    ).where(model.id == row_id))


@functools.cache
def _finish_query(model: Any, status: str, with_error: bool, columns: tuple[tuple[str, bool], ...]) -> PreparedQuery:
    """The update that settles a row: its values are (error if `with_error`, sent_at if sent, the extra columns
    that are not None, the row's id). A None is part of a prepared query's shape, hence one query per shape."""

    def build(*values: Any) -> peewee.Query:
        given = iter(values)
        error = next(given) if with_error else None
        sent_at = next(given) if status == OutboxStatus.SENT else None
        extra = {name: None if is_none else next(given) for name, is_none in columns}
        return model.update(status=status, attempts=model.attempts + 1, last_error=error, sent_at=sent_at,
                            **extra).where(model.id == next(given))

    return PreparedQuery(model, build)


class DeliveryWorker(abc.ABC):
    """Subclasses name their table (`model`, with status/attempts/next_attempt_at/last_error/sent_at columns),
    the column that names a destination (`destination`), and how one row is delivered (`_deliver`)."""

    name = "delivery"
    model: ClassVar[Any]
    destination: ClassVar[str]

    def __init__(self, *, batch: int = 200, idle_poll_seconds: float = 1.0) -> None:
        self.batch = batch
        self.idle_poll_seconds = idle_poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Several processes: only the one the gate admits sends (support/coordination.py); the others pass
        # their wake-ups on to it.
        self.gate: Callable[[], bool] | None = None
        self.forward_wake: Callable[[], None] | None = None

    @abc.abstractmethod
    async def _deliver(self, row: Any) -> int:
        """Try one row; 1 when delivered. It must end by calling _retry or _finish."""

    async def deliver_due(self) -> tuple[int, float]:
        """One round: the oldest pending row of each destination, if due. Returns (delivered, seconds to next)."""
        # The head of every destination's queue, found in SQL: one destination with a long backlog in backoff
        # must not hide the others' rows behind a LIMIT.
        heads = await _heads_query(self.model, self.destination).rows(self.batch)
        now = utcnow()  # after the read: a row committed during it is due, not 50 ms away
        due = [row for row in heads if row.next_attempt_at <= now]
        waits = [(row.next_attempt_at - now).total_seconds() for row in heads if row not in due]
        next_due = max(0.05, min(waits)) if waits else self.idle_poll_seconds
        if not due:
            return 0, next_due
        return sum(await asyncio.gather(*(self._deliver(row) for row in due))), next_due

    async def _retry(self, row: Any, delay: float, error: str) -> None:
        log.warning("%s row %s (to %s) will be retried in %.1fs: %s",
                    self.name, row.id, getattr(row, self.destination), delay, error)
        await _retry_query(self.model).execute(utcnow() + dt.timedelta(seconds=delay), error[:2000], row.id)

    async def _finish(self, row: Any, status: str, *, error: str | None = None, **columns: Any) -> None:
        """Sent or failed for good; `columns` are extra values to store with it (e.g. the Telegram message id)."""
        row.status = status
        for column, value in columns.items():
            setattr(row, column, value)
        values: list[Any] = [error[:2000]] if error else []
        if status == OutboxStatus.SENT:
            values.append(utcnow())
        values.extend(value for value in columns.values() if value is not None)
        shape = tuple((name, value is None) for name, value in columns.items())
        await _finish_query(self.model, status, bool(error), shape).execute(*values, row.id)

    def wake(self, rows: Sequence[Any] | None = None) -> None:
        """Rows were committed. `rows`: those rows, when the committer has them (a worker may then take them
        from memory instead of reading its table); None: the table has news of any kind, it is read."""
        self._wake.set()
        if self.forward_wake is not None and not self._admitted():
            self.forward_wake()

    def _admitted(self) -> bool:
        return self.gate is None or self.gate()

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

    async def _recover(self) -> None:  # noqa: B027 - an optional hook, not an abstract step
        """Before the first round: settle rows an earlier process left half-done (none by default)."""

    def _may_have_more(self) -> bool:
        """After a round that delivered: whether another round must follow at once. By default always: rows may
        wait behind the ones just sent (a destination's next, the batch's rest)."""
        return True

    def _polled(self) -> None:  # noqa: B027 - an optional hook, not an abstract step
        """The wait for a wake-up ran out: the next round is the idle poll."""

    async def _run(self) -> None:
        sending = False  # this process is the sender (always, alone; the leader, among several)
        while not self._stopping:
            admitted = self._admitted()
            if admitted and not sending:
                # Becoming the sender: what a previous sender (a dead process, or this one before a restart)
                # left in flight is settled first.
                try:
                    await self._recover()
                except Exception:
                    log.exception("%s: could not settle the rows left in flight by the last sender", self.name)
            sending = admitted
            # Cleared before the round, not after it: a row committed while the round runs (after its heads
            # query) sets the event again, and the wait below returns at once instead of sleeping on it.
            self._wake.clear()
            try:
                delivered, next_due = await self.deliver_due() if admitted else (0, self.idle_poll_seconds)
            except Exception:
                log.exception("%s round failed; retrying shortly", self.name)
                delivered, next_due = 0, self.idle_poll_seconds
            if delivered and not self._stopping and self._may_have_more():
                continue
            # asyncio.timeout rather than wait_for: no task in between, so a wake-up resumes this loop on the
            # event loop's next turn instead of two turns later, behind whatever else became ready meanwhile.
            try:
                async with asyncio.timeout(min(next_due, self.idle_poll_seconds)):
                    await self._wake.wait()
            except TimeoutError:
                self._polled()
