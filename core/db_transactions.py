"""transaction(): all-or-nothing blocks, one writer at a time on SQLite, BEGIN with the first statement."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable

import peewee_async
from peewee_async.connection import connection_context

from core.db_engines import PooledPostgresqlDatabase, _pending_begins, _PendingBegin, is_sqlite, run_on_connection

_sqlite_write_lock: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_write_lock", default=False)
# Keyed by loop too: an asyncio.Lock belongs to the loop it first waited in, and tests run many loops.
_sqlite_locks: dict[tuple[int, int], asyncio.Lock] = {}


@contextlib.asynccontextmanager
async def transaction(db: peewee_async.AioDatabase) -> AsyncIterator[None]:
    """All-or-nothing block.

    SQLite allows one writer at a time and a deferred transaction that later writes can fail with
    SQLITE_BUSY without waiting; serialising this process's write transactions avoids that, and this
    process is the only writer. PostgreSQL needs nothing of the kind.
    """
    if isinstance(db, PooledPostgresqlDatabase) and not _pg_transaction.get():
        async with _pg_transaction_block(db):
            yield
        return
    if not is_sqlite(db) or _sqlite_write_lock.get():
        await _begin_if_pending(db)  # a savepoint needs the outer transaction begun
        async with db.aio_atomic():
            yield
        return
    lock = _sqlite_locks.setdefault((id(db), id(asyncio.get_running_loop())), asyncio.Lock())
    # BEGIN IMMEDIATE takes the write lock up front (waiting out the busy timeout); a plain BEGIN that reads first
    # fails at once with "database is locked" if anyone wrote meanwhile. It is sent with the block's first
    # statement (a block that runs none writes nothing and sends nothing).
    async with lock, db.aio_connection() as connection, _deferred_begin(
            connection, _sqlite_write_lock, lambda sql: run_on_connection(connection, sql)):
        yield


@contextlib.asynccontextmanager
async def _deferred_begin(connection: object, inside: contextvars.ContextVar[bool],
                          run: Callable[[str], Awaitable[object]]) -> AsyncIterator[None]:
    """The block on `connection` as one transaction whose BEGIN goes with its first statement
    (`_begin_if_pending`); COMMIT or ROLLBACK at the end only if it began. `inside` is set meanwhile, so a
    block within it becomes a savepoint."""
    context = connection_context.get()
    assert context is not None
    token = inside.set(True)
    context.transaction_is_opened = True
    begin = _pending_begins[id(connection)] = _PendingBegin()
    try:
        try:
            yield
        except BaseException:
            if begin.begun:
                await run("ROLLBACK")
            raise
        if begin.begun:
            await run("COMMIT")
    finally:
        _pending_begins.pop(id(connection), None)
        context.transaction_is_opened = False
        inside.reset(token)


async def _begin_if_pending(db: peewee_async.AioDatabase) -> None:
    context = connection_context.get()
    pending = _pending_begins.pop(id(context.connection), None) if context is not None else None
    if context is None or pending is None:
        return
    if is_sqlite(db):
        await context.connection._execute(pending.begin, context.connection._conn)
    else:
        pending.begun = True
        await db.aio_execute_sql("BEGIN")


_pg_transaction: contextvars.ContextVar[bool] = contextvars.ContextVar("pg_transaction", default=False)


@contextlib.asynccontextmanager
async def _pg_transaction_block(db: PooledPostgresqlDatabase) -> AsyncIterator[None]:
    """BEGIN with the block's first statement (none sent for a block that runs nothing), COMMIT or ROLLBACK at
    the end; a block inside it is a savepoint, as peewee-async's own atomic() makes it."""
    async with db.aio_connection() as connection, _deferred_begin(connection, _pg_transaction,
                                                                  db.aio_execute_sql):
        yield
