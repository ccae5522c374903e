"""The database: one URL, two first-class engines (SQLite embedded, PostgreSQL through aiopg).

This module makes the databases and checks their health; the rest lives beside it by job and is re-exported
here, so `from core.db import ...` names one place: db_url (DATABASE_URL), db_pools (kept connections),
db_engines (how a statement runs), db_transactions (transaction()), db_prepared (PreparedQuery/Insert)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import peewee
import peewee_async

from core.db_engines import (
    FetchedCursor,
    PooledPostgresqlDatabase,
    PooledSqliteDatabase,
    is_sqlite,
    run_on_connection,
)
from core.db_pools import (
    SQLITE_PRAGMAS,
    SQLITE_SWITCH_INTERVAL_SECONDS,
    FifoConnectionPool,
    PgConnectionPool,
    PgPoolBackend,
    SqliteConnectionPool,
    SqlitePoolBackend,
)
from core.db_prepared import PreparedInsert, PreparedQuery
from core.db_transactions import transaction
from core.db_url import POSTGRES_SCHEMES, DatabaseURL, Engine, parse_database_url

__all__ = [
    "HEALTH_WRITE_TIMEOUT_SECONDS",
    "POSTGRES_SCHEMES",
    "SQLITE_PRAGMAS",
    "SQLITE_SWITCH_INTERVAL_SECONDS",
    "DatabaseURL",
    "Engine",
    "FetchedCursor",
    "FifoConnectionPool",
    "PgConnectionPool",
    "PgPoolBackend",
    "PooledPostgresqlDatabase",
    "PooledSqliteDatabase",
    "PreparedInsert",
    "PreparedQuery",
    "SqliteConnectionPool",
    "SqlitePoolBackend",
    "connect_dedicated",
    "connection_failure",
    "fetch_scalar",
    "is_sqlite",
    "make_database",
    "make_sync_database",
    "parse_database_url",
    "ping",
    "run_on_connection",
    "transaction",
]


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

    if not Path(path).exists():
        raise FileNotFoundError(path)
    connection = sqlite3.connect(path, timeout=HEALTH_WRITE_TIMEOUT_SECONDS, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")  # takes the write lock, or fails once the timeout is out
        connection.execute("ROLLBACK")
    finally:
        connection.close()
