"""Which process handles a Telegram update, so none is lost or handled twice across processes and restarts.

Telegram redelivers an update until one delivery is acknowledged (a webhook answered 2xx, a getUpdates offset
moved past it). A process that dies mid-handler never acknowledges, so the update comes again: to another
process, or to this one after a restart. The claim row says what became of it:

- no row: nobody has it; the first INSERT wins (the primary key settles a race between processes);
- claimed: a handling attempt is alive as long as it renews `claimed_at` every `lease / 3` seconds. A
  redelivery waits: for `processed_at` (then it does nothing), for the row to go (the attempt failed and
  released it: then it claims it), or for `lease` seconds without a renewal, seen by its own clock (the
  holder died: it takes the claim over with a compare-and-set, so two waiters cannot both take it);
- processed: the handler finished; a redelivery does nothing.

Each step is its own short statement, committed at once: no transaction stays open across a Bot API call.
A claim is taken over only when its holder looks dead; if it was merely stalled longer than the lease, both run
the handler, and the durable effect of every handler is idempotent by the Telegram identity of what it
handles (support.relay), so the visitor still gets one message: what may repeat is the bot's own reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator

import peewee

from core.db import PreparedInsert, PreparedQuery
from models import ProcessedUpdate, utcnow

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 10.0
POLL_SECONDS = 0.5

# Every update's claim and its end: rendered once, not per update (peewee's rendering costs more than the run).
_CLAIM = PreparedInsert(ProcessedUpdate, ProcessedUpdate.update_id, ProcessedUpdate.claimed_by,
                        ProcessedUpdate.claimed_at)
_PROCESSED = PreparedQuery(ProcessedUpdate, lambda update_id, now: ProcessedUpdate.update(processed_at=now).where(
    ProcessedUpdate.update_id == update_id))


async def last_update_id() -> int:
    """The highest update id this desk has seen (0 for none): a restarted sandbox numbers its updates after it."""
    row = await ProcessedUpdate.select(peewee.fn.MAX(ProcessedUpdate.update_id).alias("last")).aio_get()
    return int(row.last or 0)


class UpdateClaims:
    def __init__(self, *, lease_seconds: float = DEFAULT_LEASE_SECONDS, poll_seconds: float = POLL_SECONDS) -> None:
        self.lease = lease_seconds
        self.poll = min(poll_seconds, lease_seconds / 4)

    @contextlib.asynccontextmanager
    async def handling(self, update_id: int) -> AsyncIterator[bool]:
        """Yields True when this attempt is to run the handler (the claim is held, and renewed, meanwhile),
        False when the update was already handled. The update is marked processed when the block ends
        normally; an error (or a cancellation) releases the claim so a redelivery tries again."""
        token = await self._claim(update_id)
        if token is None:
            yield False
            return
        renewal = asyncio.create_task(self._renew(update_id, token), name=f"update-claim-{update_id}")
        try:
            yield True
        except BaseException:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            # Shielded: a shutdown's cancellation must not leave the claim for the lease to expire.
            await asyncio.shield(self._release(update_id, token))
            raise
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        await _PROCESSED.execute(update_id, utcnow())

    async def _claim(self, update_id: int) -> str | None:
        """This attempt's token once the update is ours; None once it turns out handled."""
        token = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        seen: tuple[str | None, dt.datetime | None] | None = None
        seen_since = 0.0
        while True:
            try:
                await _CLAIM.create(update_id=update_id, claimed_by=token, claimed_at=utcnow())
                return token
            except peewee.IntegrityError:
                pass
            row = await ProcessedUpdate.aio_get_or_none(ProcessedUpdate.update_id == update_id)
            if row is None:
                continue  # released between our INSERT and SELECT: try again
            if row.processed_at is not None:
                log.info("Update %s was already handled; ignoring the repeat", update_id)
                return None
            now = loop.time()
            if (row.claimed_by, row.claimed_at) != seen:
                if seen is None:
                    log.info("Update %s is being handled elsewhere; waiting for it", update_id)
                seen, seen_since = (row.claimed_by, row.claimed_at), now
            elif now - seen_since >= self.lease:
                taken = await ProcessedUpdate.update(claimed_by=token, claimed_at=utcnow()).where(
                    (ProcessedUpdate.update_id == update_id) & ProcessedUpdate.processed_at.is_null()
                    & _same(ProcessedUpdate.claimed_by, row.claimed_by)
                    & _same(ProcessedUpdate.claimed_at, row.claimed_at)
                ).aio_execute()
                if taken:
                    log.warning("Update %s: its handler stopped renewing its claim %.0f s ago (the process died?); "
                                "handling it here", update_id, now - seen_since)
                    return token
            await asyncio.sleep(self.poll)

    async def _renew(self, update_id: int, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                renewed = await ProcessedUpdate.update(claimed_at=utcnow()).where(
                    (ProcessedUpdate.update_id == update_id) & (ProcessedUpdate.claimed_by == token)
                ).aio_execute()
            except peewee.DatabaseError:
                log.warning("Could not renew the claim on update %s; retrying", update_id, exc_info=True)
                continue
            if not renewed:
                log.warning("Update %s: another process took over its claim while this one still handles it",
                            update_id)
                return

    async def _release(self, update_id: int, token: str) -> None:
        try:
            await ProcessedUpdate.delete().where(
                (ProcessedUpdate.update_id == update_id) & (ProcessedUpdate.claimed_by == token)
                & ProcessedUpdate.processed_at.is_null()).aio_execute()
        except peewee.DatabaseError:
            # The lease then runs out on its own and a redelivery takes the claim over.
            log.warning("Could not release the claim on update %s", update_id, exc_info=True)


def _same(field: peewee.Field, value: object) -> peewee.Expression:
    return field.is_null() if value is None else (field == value)
