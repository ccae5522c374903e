"""Connections kept open between statements: the FIFO pool shared by both engines, SQLite's WAL connections
and PostgreSQL's aiopg ones, and the peewee-async backends that hand them out."""

from __future__ import annotations

import asyncio
import collections
import sys
from typing import Any, ClassVar

import aiosqlite
from peewee_async.pool import AioSqlitePool, AioSqlitePoolBackend

# Per connection, at open: WAL lets readers run beside the one writer; in WAL, synchronous=NORMAL syncs at
# checkpoints instead of at every commit (a power cut may lose the last commits, never corrupts the file).
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")


class FifoConnectionPool(AioSqlitePool):
    """Keeps at most `size` connections open between queries; callers beyond that wait their turn, first come
    first served: a released connection goes straight to the longest waiter, so none waits behind newcomers.

    A connection left inside a transaction (a failed COMMIT) is closed rather than handed to the next caller.
    Waiting cannot deadlock: outside a transaction a connection is held for one statement only.
    """

    def __init__(self, database: str, *, size: int, acquire_timeout: float | None = None,
                 **connect_params: Any) -> None:
        super().__init__(database, **connect_params)
        self.size = max(1, size)
        self.acquire_timeout = acquire_timeout
        self._idle: list[Any] = []
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()

    async def _connect(self) -> Any:
        raise NotImplementedError

    def _reusable(self, connection: Any) -> bool:
        raise NotImplementedError

    async def acquire(self) -> Any:
        while True:
            if self._closed:
                raise RuntimeError("Cannot acquire connection after closing pool")
            if self._idle:
                connection = self._idle.pop()
                if getattr(connection, "closed", False):  # the server went away meanwhile
                    self._open -= 1
                    continue
                return connection
            if self._open < self.size:
                self._open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._open -= 1
                    self._wake(None)
                    raise
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            async with asyncio.timeout(self.acquire_timeout):
                try:
                    connection = await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                        await self.release(waiter.result())  # handed over just as we were cancelled: pass it on
                    raise
            if connection is not None:
                return connection
            # None: a connection was closed, so there is room to open one; go round again.

    def _wake(self, connection: Any) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    async def release(self, conn: Any) -> None:
        if self._closed or not self._reusable(conn):
            self._open -= 1
            await conn.close()
            self._wake(None)
        elif not self._wake(conn):
            self._idle.append(conn)

    def has_acquired_connections(self) -> bool:
        return self._open > len(self._idle)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._open -= 1
            await connection.close()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("Cannot acquire connection after closing pool"))


class SqliteConnectionPool(FifoConnectionPool):
    """aiosqlite connections kept open. peewee-async's own SQLite "pool" opens a connection (a thread, the file,
    the schema) for every query and closes it after; reusing them is most of the cost of a message on SQLite."""

    async def _connect(self) -> Any:
        connection = await aiosqlite.connect(database=self.database, isolation_level=None, **self.connect_params)
        try:
            for pragma in SQLITE_PRAGMAS:
                await connection.execute(pragma)
        except BaseException:
            await connection.close()
            raise
        return connection

    def _reusable(self, connection: Any) -> bool:
        return not connection.in_transaction


class PgConnectionPool(FifoConnectionPool):
    """aiopg connections. aiopg's own pool lets a newcomer take a connection released for a waiter (the waiter
    is only told to look again), so under load some requests wait for seconds while others pass; it also
    takes a lock and starts a task for every acquire and release."""

    def __init__(self, database: str, *, size: int, timeout: float, **connect_params: Any) -> None:
        super().__init__(database, size=size, acquire_timeout=timeout, **connect_params)
        self.timeout = timeout  # also every statement's, as aiopg's pool sets it

    async def _connect(self) -> Any:
        import aiopg

        return await aiopg.connect(database=self.database, timeout=self.timeout, **self.connect_params)

    def _reusable(self, connection: Any) -> bool:
        import psycopg2.extensions

        return (not connection.closed
                and connection.raw.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE)


# Every SQLite statement is a hop to its connection's thread and back, and that thread runs only once it has the
# GIL: while the event loop is busy it waits for the loop thread to give the GIL up, which Python asks for after
# the switch interval (5 ms by default). Under load each hop took that long, and a message's write holds the
# process's write lock for three hops. 0.5 ms hands the GIL over ten times sooner.
SQLITE_SWITCH_INTERVAL_SECONDS = 0.0005


class SqlitePoolBackend(AioSqlitePoolBackend):
    async def create(self) -> None:
        params = dict(self.connect_params)
        size = int(params.pop("pool_size", 10))
        self.pool = SqliteConnectionPool(database=self.database, size=size, **params)
        sys.setswitchinterval(min(sys.getswitchinterval(), SQLITE_SWITCH_INTERVAL_SECONDS))


class PgPoolBackend(AioSqlitePoolBackend):
    """peewee-async's backend interface over PgConnectionPool (aiopg connections)."""

    required_modules: ClassVar[list[str]] = ["aiopg"]

    async def create(self) -> None:
        params = dict(self.connect_params)
        size = int(params.pop("pool_size", 10))
        timeout = float(params.pop("timeout", 10))
        self.pool = PgConnectionPool(self.database, size=size, timeout=timeout, **params)
