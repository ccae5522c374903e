"""The database: one URL, two first-class engines (SQLite embedded, PostgreSQL through aiopg)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import datetime as dt
import sqlite3
import sys
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

import aiosqlite
import peewee
import peewee_async
from peewee_async.connection import connection_context
from peewee_async.pool import AioSqlitePool, AioSqlitePoolBackend

from core.paths import PROJECT_ROOT

Engine = Literal["sqlite", "postgresql"]
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+aiopg", "postgresql+psycopg2")


@dataclass(frozen=True)
class DatabaseURL:
    engine: Engine
    database: str
    user: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None

    @property
    def safe(self) -> str:
        """The URL without its password, fit for logs."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.database}"
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.database}"


def parse_database_url(url: str) -> DatabaseURL:
    """Parse DATABASE_URL; raise ValueError with a reason a person can act on."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw_path = url.split("://", 1)[1]
        if not raw_path.startswith("/"):
            raise ValueError("sqlite URLs look like sqlite:///relative/path.db or sqlite:////absolute/path.db")
        path = raw_path[1:]
        if not path:
            raise ValueError("sqlite URL has no file path")
        if path == ":memory:":
            raise ValueError("in-memory SQLite is not supported: every connection would see its own database")
        resolved = Path(path) if Path(path).is_absolute() else PROJECT_ROOT / path
        return DatabaseURL(engine="sqlite", database=str(resolved))
    if parts.scheme in POSTGRES_SCHEMES:
        name = parts.path.lstrip("/")
        if not name:
            raise ValueError("PostgreSQL URL has no database name (postgresql://user:pass@host:5432/db)")
        try:
            port = parts.port or 5432
        except ValueError:
            raise ValueError("PostgreSQL URL has an invalid port") from None
        return DatabaseURL(
            engine="postgresql",
            database=unquote(name),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or "127.0.0.1",
            port=port,
        )
    raise ValueError(
        f"unsupported scheme {parts.scheme or '(none)'!r}: use sqlite:///path.db or postgresql://user:pass@host/db"
    )


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


def make_database(url: str, pool_size: int = 10) -> peewee_async.AioDatabase:
    """An async peewee database for the URL; sync queries stay forbidden so nothing blocks the loop."""
    parsed = parse_database_url(url)
    if parsed.engine == "sqlite":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # sqlite3's `timeout` is the busy timeout: a writer waits for the lock instead of failing at once.
        return PooledSqliteDatabase(parsed.database, timeout=15, pool_params={"pool_size": pool_size})
    return PooledPostgresqlDatabase(
        parsed.database,
        user=parsed.user,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port,
        pool_params={"pool_size": pool_size, "timeout": 10},
    )


def make_sync_database(url: str) -> peewee.Database:
    """A blocking twin of the same database, used only by migrations (peewee-migrate is synchronous)."""
    parsed = parse_database_url(url)
    if parsed.engine == "sqlite":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return peewee.SqliteDatabase(parsed.database, timeout=15, pragmas={"journal_mode": "wal"})
    return peewee.PostgresqlDatabase(
        parsed.database,
        user=parsed.user,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port,
        connect_timeout=10,
    )


def is_sqlite(db: peewee.Database) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def connection_failure(exc: BaseException) -> str | None:
    """One line saying why the database could not be reached, or None when `exc` is not about reaching it."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    # Drivers raise OperationalError/InterfaceError of their own (psycopg2, sqlite3); sockets raise OSError.
    if not any(type(e).__name__ in ("OperationalError", "InterfaceError") or isinstance(e, OSError) for e in chain):
        return None
    lines = str(exc).strip().splitlines() or [""]
    return f"cannot connect ({type(exc).__name__}): {lines[0]}"


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
    async with lock, db.aio_connection() as connection:
        # BEGIN IMMEDIATE takes the write lock up front (waiting out the busy timeout); a plain BEGIN
        # that reads first fails at once with "database is locked" if anyone wrote meanwhile. It is sent with
        # the block's first statement (a block that runs none writes nothing and sends nothing).
        context = connection_context.get()
        assert context is not None
        token = _sqlite_write_lock.set(True)
        context.transaction_is_opened = True
        begin = _pending_begins[id(connection)] = _PendingBegin()
        try:
            try:
                yield
            except BaseException:
                if begin.begun:
                    await run_on_connection(connection, "ROLLBACK")
                raise
            if begin.begun:
                await run_on_connection(connection, "COMMIT")
        finally:
            _pending_begins.pop(id(connection), None)
            context.transaction_is_opened = False
            _sqlite_write_lock.reset(token)


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
    async with db.aio_connection() as connection:
        context = connection_context.get()
        assert context is not None
        token = _pg_transaction.set(True)
        context.transaction_is_opened = True
        begin = _pending_begins[id(connection)] = _PendingBegin()
        try:
            try:
                yield
            except BaseException:
                if begin.begun:
                    await db.aio_execute_sql("ROLLBACK")
                raise
            if begin.begun:
                await db.aio_execute_sql("COMMIT")
        finally:
            _pending_begins.pop(id(connection), None)
            context.transaction_is_opened = False
            _pg_transaction.reset(token)


HEALTH_WRITE_TIMEOUT_SECONDS = 2.0


async def ping(db: peewee_async.AioDatabase) -> bool:
    """True when a write could happen now, not merely a read: a locked SQLite file or a read-only
    PostgreSQL (a standby, a full disk turned read-only) makes the desk useless while SELECT 1 still works."""
    try:
        await asyncio.wait_for(db.aio_execute_sql("SELECT 1"), timeout=3)  # the pool itself hands out connections
        if is_sqlite(db):
            # A connection of its own with a short busy timeout: the pool's waits 15 s, far too long to report.
            await asyncio.to_thread(_sqlite_can_write, str(db.database))
        else:
            # txid_current() assigns a transaction id, which PostgreSQL refuses when it cannot write.
            await asyncio.wait_for(db.aio_execute_sql("SELECT txid_current()"), timeout=3)
    except Exception:
        return False
    return True


def _dedicated_kwargs(url: DatabaseURL) -> dict[str, Any]:
    # TCP keepalives let the kernel notice a dead server (or a dead network) without waiting for a query.
    kwargs: dict[str, Any] = {"dbname": url.database, "host": url.host, "port": url.port, "keepalives": 1,
                              "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}
    if url.user:
        kwargs["user"] = url.user
    if url.password:
        kwargs["password"] = url.password
    return kwargs


async def connect_dedicated(url: DatabaseURL, application_name: str) -> Any:
    """A raw aiopg connection outside the pool, for advisory locks and LISTEN: its life is the lock's life."""
    import aiopg

    return await aiopg.connect(timeout=5, application_name=application_name, **_dedicated_kwargs(url))


async def fetch_scalar(connection: Any, sql: str, args: tuple[Any, ...] = (), timeout: float = 5) -> Any:
    async def run() -> Any:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, args)
            row = await cursor.fetchone()
            return row[0] if row else None

    return await asyncio.wait_for(run(), timeout=timeout)


def _sqlite_can_write(path: str) -> None:
    import sqlite3

    if not Path(path).exists():
        raise FileNotFoundError(path)
    connection = sqlite3.connect(path, timeout=HEALTH_WRITE_TIMEOUT_SECONDS, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")  # takes the write lock, or fails once the timeout is out
        connection.execute("ROLLBACK")
    finally:
        connection.close()


class PreparedSelect:
    """A select of fixed shape whose SQL text is built once per database, not on every call.

    peewee renders SQL in Python each time a query runs; for the few selects every request makes (the visitor's
    session, their open chat, the AI's history) that rendering cost more than the query. `build(*keys)` returns
    the select for given key values; the text rendered for marker keys is kept and run as a raw query with the
    real keys in their places. Only for keys stored as they are given (str, int): a marker must reach the
    parameters unchanged.
    """

    def __init__(self, model: type[peewee.Model], build: Any) -> None:
        self.model = model
        self.build = build
        self._prepared: dict[tuple[Any, ...], tuple[str, list[Any], list[tuple[int, int]]]] = {}

    @staticmethod
    def _marker(key_type: type, position: int) -> Any:
        if key_type is str:
            return f"\x00prepared-key-{position}\x00"
        if key_type is int:
            return -7_340_023_817_215 - position
        raise TypeError(f"a prepared select takes str and int keys, not {key_type.__name__}")

    def _sql(self, key_types: tuple[type, ...]) -> tuple[str, list[Any], list[tuple[int, int]]]:
        # The text depends on the dialect only (placeholders, quoting); the database may be a proxy.
        db = self.model._meta.database
        cache_key = (db.param, db.quote, *key_types)
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            markers = [self._marker(key_type, position) for position, key_type in enumerate(key_types)]
            sql, params = self.build(*markers).sql()
            slots = [(index, markers.index(value)) for index, value in enumerate(params)
                     if type(value) in key_types and value in markers]
            if {position for _, position in slots} != set(range(len(markers))):
                raise ValueError("a key does not reach the query's parameters unchanged")
            prepared = self._prepared[cache_key] = (sql, list(params), slots)
        return prepared

    async def _fetch(self, keys: tuple[str | int, ...]) -> tuple[list[tuple[peewee.Field | None, str]], list[Any]]:
        """The rows, and for each column the model's field for it (None for a column that is no field)."""
        sql, params, slots = self._sql(tuple(type(key) for key in keys))
        values = list(params)
        for slot, position in slots:
            values[slot] = keys[position]
        description, rows = await self.model._meta.database.aio_execute_sql(sql, values,
                                                                             fetch_results=_description_and_rows)
        by_column = self.model._meta.combined
        return [(by_column.get(column[0]), column[0]) for column in description or ()], rows

    async def rows(self, *keys: str | int) -> list[Any]:
        """Model objects, built straight from the rows with the fields' conversions, as peewee's result wrapper
        does, without setting that wrapper up for every query."""
        plan, rows = await self._fetch(keys)
        objects = []
        for row in rows:
            instance = self.model(__no_default__=1)
            data = instance.__data__
            for (field, name), value in zip(plan, row, strict=True):
                if field is None:
                    setattr(instance, name, value)  # a column that is no field of the model (an alias)
                else:
                    data[field.name] = field.python_value(value)
            objects.append(instance)
        return objects

    async def tuples(self, *keys: str | int) -> list[tuple[Any, ...]]:
        """The rows as tuples of the selected columns' values: no model objects built."""
        plan, rows = await self._fetch(keys)
        return [tuple(value if field is None else field.python_value(value)
                      for (field, _), value in zip(plan, row, strict=True)) for row in rows]

    async def first(self, *keys: str | int) -> Any:
        rows = await self.rows(*keys)
        return rows[0] if rows else None


async def _description_and_rows(db: peewee_async.AioDatabase, cursor: Any) -> tuple[Any, list[Any]]:
    return cursor.description, list(await cursor.fetchall())


class PreparedInsert:
    """An insert of one row into a model's table with fixed columns, its SQL text built once per database.

    `create(**values)` is `Model.aio_create(**values)` for those columns (the model's defaults fill in the rest)
    without peewee rendering the INSERT each time; it returns the model object with its new id. `computed` gives
    columns whose value is an expression of the others' (e.g. a subquery), and `returning` columns whose value
    the database decided are read back onto the object.
    """

    def __init__(self, model: type[peewee.Model], *fields: peewee.Field,
                 computed: dict[peewee.Field, Any] | None = None, returning: Sequence[peewee.Field] = ()) -> None:
        self.model = model
        given = list(fields)
        names = {field.name for field in given}  # (fields compare with == into SQL expressions)
        defaults = [field for field in model._meta.defaults if field.name not in names]
        self.columns: list[peewee.Field] = given + defaults
        self.computed = computed or {}
        self.returning = tuple(returning)
        self._prepared: dict[tuple[Any, ...], tuple[str, list[Any], list[tuple[int, int]], peewee.Insert]] = {}

    @staticmethod
    def _marker(field: peewee.Field, position: int) -> Any:
        # A value of the column's own type, so the field's conversion passes it through unchanged.
        if isinstance(field, peewee.ForeignKeyField | peewee.IntegerField):
            return -7_340_023_817_215 - position
        if isinstance(field, peewee.CharField | peewee.TextField):
            return f"\x00prepared-column-{position}\x00"
        if isinstance(field, peewee.DateTimeField):
            return dt.datetime(1, 1, 1, 0, 0, 0, position)
        raise TypeError(f"a prepared insert takes int, text and datetime columns, not {type(field).__name__}")

    def _sql(self) -> tuple[str, list[Any], list[tuple[int, int]], peewee.Insert]:
        db = self.model._meta.database
        cache_key = (db.param, db.quote, db.returning_clause)
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            markers = [self._marker(field, position) for position, field in enumerate(self.columns)]
            values: dict[peewee.Field, Any] = dict(zip(self.columns, markers, strict=True))
            for field, expression in self.computed.items():
                values[field] = expression(values)
            query = self.model.insert(values)
            if self.returning:
                query = query.returning(self.model._meta.primary_key, *self.returning)
            sql, params = query.sql()
            slots = [(index, markers.index(param)) for index, param in enumerate(params)
                     if any(type(param) is type(marker) and param == marker for marker in markers)]
            if {position for _, position in slots} != set(range(len(markers))):
                raise ValueError("a column's value does not reach the insert's parameters unchanged")
            prepared = self._prepared[cache_key] = (sql, list(params), slots, query)
        return prepared

    async def create(self, **values: Any) -> Any:
        instance = self.model(**values)
        sql, template, slots, query = self._sql()
        data = instance.__data__
        row = [field.db_value(data.get(field.name)) for field in self.columns]
        params = list(template)
        for slot, position in slots:
            params[slot] = row[position]

        async def new_id(db: peewee_async.AioDatabase, cursor: Any) -> Any:
            if not self.returning:
                return await db.aio_last_insert_id(cursor, query)
            returned = await cursor.fetchone()
            for field, value in zip(self.returning, returned[1:], strict=True):
                instance.__data__[field.name] = value
            return returned[0]

        instance.id = await self.model._meta.database.aio_execute_sql(sql, params, fetch_results=new_id)
        return instance
