"""The two engines' peewee-async databases and how one statement runs on each: a kept cursor per PostgreSQL
connection, one hop to the thread for SQLite, a pending BEGIN sent with a transaction's first statement."""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Sequence
from typing import Any

import aiosqlite
import peewee
import peewee_async

from core.db_pools import PgPoolBackend, SqlitePoolBackend


class PooledPostgresqlDatabase(peewee_async.PostgresqlDatabase):  # type: ignore[misc]
    pool_backend_cls = PgPoolBackend

    async def aio_execute_sql(self, sql: str, params: Sequence[Any] | None = None,
                              fetch_results: Any = None) -> Any:
        """One cursor per connection, kept: aiopg builds a cursor with its own transaction helper and isolation
        level object each time (a tenth of the loop's time when peewee-async opens one per statement). A
        transaction's BEGIN goes in front of its first statement, in the same round trip."""
        with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
            async with self.aio_connection() as connection:
                cursor = _pg_cursors.get(connection)
                if cursor is None or cursor.closed:
                    cursor = _pg_cursors[connection] = await connection.cursor()
                pending = _pending_begins.pop(id(connection), None)
                if pending is not None:
                    pending.begun = True
                    sql = "BEGIN; " + sql
                await cursor.execute(sql, params or ())
                if fetch_results is not None:
                    return await fetch_results(self, cursor)
                return None


# Each PostgreSQL connection's one cursor (PooledPostgresqlDatabase.aio_execute_sql).
_pg_cursors: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class FetchedCursor:
    """A statement run to the end on the connection's thread: its rows and what peewee-async asks of a cursor."""

    def __init__(self, rows: list[Any], description: Any, lastrowid: int | None, rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.description = description
        self.lastrowid = lastrowid
        self.rowcount = rowcount

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int) -> list[Any]:
        rows = self._rows[self._next:self._next + size]
        self._next += len(rows)
        return rows

    async def fetchall(self) -> list[Any]:
        rows = self._rows[self._next:]
        self._next = len(self._rows)
        return rows


def _run_statement(connection: sqlite3.Connection, sql: str, params: Sequence[Any]) -> FetchedCursor:
    cursor = connection.execute(sql, params)
    try:
        return FetchedCursor(cursor.fetchall(), cursor.description, cursor.lastrowid, cursor.rowcount)
    finally:
        cursor.close()


class _PendingBegin:
    """A write transaction whose BEGIN IMMEDIATE goes with its first statement (one hop instead of two)."""

    begun = False

    def begin(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        self.begun = True

    def run_first(self, connection: sqlite3.Connection, sql: str, params: Sequence[Any]) -> FetchedCursor:
        self.begin(connection)
        return _run_statement(connection, sql, params)


# Connections (by id) inside transaction() whose BEGIN has not been sent yet.
_pending_begins: dict[int, _PendingBegin] = {}


async def run_on_connection(connection: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> FetchedCursor:
    """One statement in one hop to the connection's thread. aiosqlite's cursor API costs a hop for the cursor, one
    for execute, one per fetch and one for close, each a wait for the event loop and the GIL; a message's
    statements run while this process holds SQLite's write lock, so every hop there is a hop for all writers."""
    pending = _pending_begins.pop(id(connection), None)
    run = _run_statement if pending is None else pending.run_first
    return await connection._execute(run, connection._conn, sql, params)


class PooledSqliteDatabase(peewee_async.SqliteDatabase):  # type: ignore[misc]
    pool_backend_cls = SqlitePoolBackend

    async def aio_execute_sql(self, sql: str, params: Sequence[Any] | None = None,
                              fetch_results: Any = None) -> Any:
        with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
            async with self.aio_connection() as connection:
                cursor = await run_on_connection(connection, sql, params or ())
                if fetch_results is not None:
                    return await fetch_results(self, cursor)
                return None


def is_sqlite(db: peewee.Database) -> bool:
    return isinstance(db, peewee.SqliteDatabase)
