"""Prepared queries (core/db_prepared.py) answer exactly what peewee's own rendering of the same query answers, on
both engines, for every kind of value they take; what they cannot carry is refused when first rendered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee
import pytest

from core.db import PreparedInsert, PreparedQuery
from models import Outbox, OutboxStatus, VisitorSession, utcnow

_BY_CHAT_AND_STATUS = PreparedQuery(Outbox, lambda chat, status: Outbox.select().where(
    (Outbox.chat_id == chat) & (Outbox.status == status)).order_by(Outbox.id))
_DUE_BEFORE = PreparedQuery(Outbox, lambda moment: Outbox.select(Outbox.id, Outbox.next_attempt_at).where(
    Outbox.next_attempt_at <= moment).order_by(Outbox.id))
_MARK = PreparedQuery(Outbox, lambda status, moment, row: Outbox.update(
    status=status, sent_at=moment, attempts=Outbox.attempts + 1).where(Outbox.id == row))
_MARK_RETURNING = PreparedQuery(Outbox, lambda status, row: Outbox.update(status=status).where(
    Outbox.id == row).returning(Outbox.id, Outbox.chat_id, Outbox.status, Outbox.attempts))
_DROP = PreparedQuery(Outbox, lambda chat: Outbox.delete().where(Outbox.chat_id == chat))
_COUNT = PreparedQuery(Outbox, lambda chat: Outbox.select(peewee.fn.COUNT(Outbox.id).alias("n")).where(
    Outbox.chat_id == chat))
_NEW_CALL = PreparedInsert(Outbox, Outbox.chat_id, Outbox.method, Outbox.payload)


async def _calls(*chats: int) -> list[Outbox]:
    return [await _NEW_CALL.create(chat_id=chat, method="sendMessage", payload='{"text": "привет"}')
            for chat in chats]


async def test_a_prepared_select_reads_what_peewee_reads(support: Any) -> None:
    await _calls(10, 10, 20)
    mine = await _BY_CHAT_AND_STATUS.rows(10, OutboxStatus.PENDING)
    theirs = list(await Outbox.select().where(
        (Outbox.chat_id == 10) & (Outbox.status == OutboxStatus.PENDING)).order_by(Outbox.id).aio_execute())
    assert [row.__data__ for row in mine] == [row.__data__ for row in theirs]
    assert len(mine) == 2 and all(isinstance(row.next_attempt_at, dt.datetime) for row in mine)
    # The same text serves other values: nothing from the first call's values sticks.
    assert [row.chat_id for row in await _BY_CHAT_AND_STATUS.rows(20, OutboxStatus.PENDING)] == [20]
    assert await _BY_CHAT_AND_STATUS.rows(10, OutboxStatus.SENT) == []
    assert await _BY_CHAT_AND_STATUS.first(30, OutboxStatus.PENDING) is None
    assert await _COUNT.scalar(10) == 2


async def test_datetimes_are_values_like_any_other(support: Any) -> None:
    early, late = await _calls(1, 2)
    moment = utcnow() + dt.timedelta(hours=1)
    await Outbox.update(next_attempt_at=moment + dt.timedelta(hours=1)).where(Outbox.id == late.id).aio_execute()
    assert await _DUE_BEFORE.tuples(moment) == [(early.id, early.next_attempt_at)]
    later = moment + dt.timedelta(hours=2)
    assert [row[0] for row in await _DUE_BEFORE.tuples(later)] == [early.id, late.id]


async def test_updates_deletes_and_returning(support: Any) -> None:
    first, second = await _calls(5, 6)
    sent_at = utcnow().replace(microsecond=123456)
    assert await _MARK.execute(OutboxStatus.SENT, sent_at, first.id) == 1
    stored = await Outbox.aio_get(Outbox.id == first.id)
    assert (stored.status, stored.sent_at, stored.attempts) == (OutboxStatus.SENT, sent_at, 1)
    assert await _MARK.execute(OutboxStatus.SENT, sent_at, 999_999) == 0

    returned = await _MARK_RETURNING.first(OutboxStatus.SENDING, second.id)
    assert (returned.id, returned.chat_id, returned.status, returned.attempts) == (
        second.id, 6, OutboxStatus.SENDING, 0)
    assert not returned._dirty  # read, not changed: a save() of it writes nothing it did not change

    assert await _DROP.execute(5) == 1
    assert await Outbox.select().where(Outbox.chat_id == 5).aio_exists() is False
    assert await Outbox.select().where(Outbox.chat_id == 6).aio_exists() is True


async def test_what_cannot_be_carried_is_refused(support: Any) -> None:
    with pytest.raises(TypeError, match="str, int and datetime"):
        await _BY_CHAT_AND_STATUS.rows(10, None)
    with pytest.raises(TypeError, match="str, int and datetime"):
        await _MARK.execute(OutboxStatus.SENT, utcnow(), True)
    # A value the query turns into something else (here: a constant, not a parameter) cannot be put in place.
    folded = PreparedQuery(VisitorSession, lambda key: VisitorSession.select().where(
        VisitorSession.session_id == peewee.fn.LOWER(peewee.SQL(f"'{key}'"))))
    with pytest.raises(ValueError, match="does not reach"):
        await folded.rows("abc")
