"""Coordination between processes: advisory-lock roles with failover, LISTEN/NOTIFY wake-ups with catch-up.

Each "process" here is a coordinator or notifier with its own PostgreSQL connections, as separate processes
have; the multi-process tests (tests/test_scale.py) run the real thing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg2
import pytest

from core.db import parse_database_url
from support.coordination import LocalCoordinator, PgCoordinator, Role, build_coordination
from support.notify import ClusterEventHub, PgNotifier, Wake
from tests.conftest import eventually

# SQLite is the one-process mode: these run on PostgreSQL alone (not skipped on SQLite).
POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite is the one-process mode")
    return database_url


def _terminate(url: str, application_name: str) -> int:
    """Kill the server side of a connection, as a network cut or a database restart would."""
    parsed = parse_database_url(url)
    connection = psycopg2.connect(dbname=parsed.database, user=parsed.user, host=parsed.host, port=parsed.port)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                       (application_name,))
        (count,) = cursor.fetchone()
    connection.close()
    return int(count)


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PgCoordinator, PgCoordinator, list[str]]]:
    url = parse_database_url(pg_url)
    first = PgCoordinator(url, process="first", retry_seconds=0.2)
    second = PgCoordinator(url, process="second", retry_seconds=0.2)
    history: list[str] = []
    for name, coordinator in (("first", first), ("second", second)):
        async def gain(name: str = name) -> None:
            history.append(f"{name} gained")

        async def lose(name: str = name) -> None:
            history.append(f"{name} lost")
        coordinator.want(Role.LEADER, on_gain=gain, on_lose=lose)
        coordinator.want(Role.POLLER)
    await first.start()
    await second.start()
    try:
        yield first, second, history
    finally:
        await first.release()
        await second.release()


@POSTGRES_ONLY
async def test_one_process_holds_each_role_and_a_released_role_moves(
    pair: tuple[PgCoordinator, PgCoordinator, list[str]],
) -> None:
    first, second, history = pair
    assert first.is_leader() and first.holds(Role.POLLER)
    await asyncio.sleep(0.6)  # several retries: the second must still wait, not fail
    assert not second.is_leader() and not second.holds(Role.POLLER)
    assert second.status()["jobs_leader"] is False and second.status()["lock_connection"] is True

    await first.release()
    await eventually(lambda: second.is_leader() and second.holds(Role.POLLER), timeout=3)
    assert not first.is_leader() and history == ["first gained", "second gained"]


@POSTGRES_ONLY
async def test_a_holder_that_loses_its_connection_gives_the_role_up(
    pg_url: str, pair: tuple[PgCoordinator, PgCoordinator, list[str]],
) -> None:
    first, second, history = pair
    assert first.is_leader()
    assert _terminate(pg_url, "ilpo-locks-first") == 1
    # The lock went with the connection: the first notices at its next round and stops acting as leader;
    # then whichever process asks first takes the role (the first too, on a fresh connection).
    await eventually(lambda: "first lost" in history, timeout=3)
    await eventually(lambda: first.is_leader() or second.is_leader(), timeout=3)
    await asyncio.sleep(0.6)
    assert [first.is_leader(), second.is_leader()].count(True) == 1
    assert history[:2] == ["first gained", "first lost"]


@pytest.fixture
async def hubs(pg_url: str) -> AsyncIterator[tuple[ClusterEventHub, ClusterEventHub]]:
    url = parse_database_url(pg_url)
    notifiers = [PgNotifier(url, process=name, keepalive_seconds=0.5) for name in ("a", "b")]
    made = [ClusterEventHub(notifier) for notifier in notifiers]
    for notifier in notifiers:
        await notifier.start()
        assert notifier.listening
    try:
        yield made[0], made[1]
    finally:
        for notifier in notifiers:
            await notifier.stop()


@POSTGRES_ONLY
async def test_a_wake_in_one_process_reaches_listeners_in_another(
    hubs: tuple[ClusterEventHub, ClusterEventHub],
) -> None:
    a, b = hubs
    queue = b.subscribe(7)
    other = b.subscribe(8)
    a.wake(7)
    assert await asyncio.wait_for(queue.get(), timeout=3) is None
    a.publish_ephemeral(7, {"type": "typing", "author": "ai", "active": True})
    assert await asyncio.wait_for(queue.get(), timeout=3) == {"type": "typing", "author": "ai", "active": True}
    # Text never travels: a streamed draft stays with its process (the stored answer reaches everyone).
    a.publish_ephemeral(7, {"type": "ai_delta", "reply_to": 1, "text": "секрет"})
    a.wake(7)
    assert await asyncio.wait_for(queue.get(), timeout=3) is None
    assert queue.empty() and other.empty()
    # Its own notifications come back to a process too; it ignores them (it woke its listeners directly).
    own = a.subscribe(9)
    a.wake(9)
    assert own.get_nowait() is None
    await asyncio.sleep(0.3)
    assert own.empty()


@POSTGRES_ONLY
async def test_a_lost_listening_connection_reconnects_and_catches_up(
    pg_url: str, hubs: tuple[ClusterEventHub, ClusterEventHub],
) -> None:
    a, b = hubs
    queue = b.subscribe(11)
    assert _terminate(pg_url, "ilpo-listen-b") == 1
    a.wake(11)  # may be sent while b is not listening: it must still arrive, as the catch-up wake
    assert await asyncio.wait_for(queue.get(), timeout=5) is None
    await eventually(lambda: b.notifier.listening, timeout=5)
    while not queue.empty():
        queue.get_nowait()
    a.wake(11)
    assert await asyncio.wait_for(queue.get(), timeout=3) is None


@POSTGRES_ONLY
async def test_a_sender_keeps_what_it_could_not_send_until_it_can(
    pg_url: str, hubs: tuple[ClusterEventHub, ClusterEventHub],
) -> None:
    a, b = hubs
    queue = b.subscribe(12)
    seen = b.notifier.received
    assert _terminate(pg_url, "ilpo-listen-a") == 1
    a.notifier.publish(Wake.EVENTS, "12")
    assert await asyncio.wait_for(queue.get(), timeout=5) is None
    await eventually(lambda: b.notifier.received > seen, timeout=5)


async def test_two_processes_on_one_sqlite_file_are_told(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "one.db")
    first, second = LocalCoordinator(path), LocalCoordinator(path)
    first.want(Role.LEADER)
    second.want(Role.LEADER)
    with caplog.at_level(logging.WARNING, logger="support.coordination"):
        await first.start()
        assert not caplog.records
        await second.start()
    assert second.shared_with_another_process and "one-process mode" in caplog.text
    assert first.is_leader() and first.status()["shared_sqlite_file"] is False
    await first.release()
    await second.release()
    third = LocalCoordinator(path)
    await third.start()
    assert not third.shared_with_another_process
    await third.release()


@POSTGRES_ONLY
async def test_a_sandbox_process_holds_every_role_itself_even_on_postgresql(pg_url: str) -> None:
    # Its Telegram is served by this very process: waiting for another process's lock would only delay it.
    coordinator, notifier, _hub = build_coordination(parse_database_url(pg_url), alone=True)
    coordinator.want(Role.LEADER)
    coordinator.want(Role.POLLER)
    await coordinator.start()
    try:
        assert notifier is None
        assert coordinator.is_leader() and coordinator.holds(Role.POLLER)
    finally:
        await coordinator.release()


@POSTGRES_ONLY
async def test_each_row_knows_the_row_before_it_even_when_another_transaction_committed_it(pg_url: str) -> None:
    """migration 015: the trigger reads the session's highest id under the session's lock, so a transaction that
    waited for another one's commit sees that row as the one before its own."""
    parsed = parse_database_url(pg_url)

    def connect() -> psycopg2.extensions.connection:
        return psycopg2.connect(dbname=parsed.database, user=parsed.user, host=parsed.host, port=parsed.port)

    setup, first, second = connect(), connect(), connect()
    setup.autocommit = True
    with setup.cursor() as cursor:
        cursor.execute("INSERT INTO visitor_sessions (session_id, token_hash, locale, created_at, last_seen_at)"
                       " VALUES ('s-015', 'x', 'ru', now(), now())"
                       " RETURNING id")
        (session,) = cursor.fetchone()
    insert = ("INSERT INTO chat_messages (session_id, sender, text, created_at) VALUES (%s, 'user', %s, now())"
              " RETURNING id, previous_event_id")
    try:
        with first.cursor() as cursor:
            cursor.execute(insert, (session, "first"))
            first_id, before_first = cursor.fetchone()
            cursor.execute(insert, (session, "first, again"))  # the transaction's own earlier row counts
            again_id, before_again = cursor.fetchone()
        assert before_first is None and before_again == first_id

        def second_insert() -> tuple[int, int]:
            with second.cursor() as cursor:
                cursor.execute(insert, (session, "second"))  # waits for the first transaction's lock
                row = cursor.fetchone()
            second.commit()
            return row

        waiting = asyncio.get_running_loop().run_in_executor(None, second_insert)
        await asyncio.sleep(0.3)
        assert not waiting.done()
        first.commit()
        second_id, before_second = await asyncio.wait_for(waiting, timeout=10)
        assert before_second == again_id and second_id > again_id
    finally:
        for connection in (first, second, setup):
            connection.close()


@POSTGRES_ONLY
async def test_rows_committed_here_carry_the_row_before_them_to_this_process_listeners(
    hubs: tuple[ClusterEventHub, ClusterEventHub],
) -> None:
    from models import ChatMessage, utcnow
    from support.events import Committed

    a, b = hubs
    here, there = a.subscribe(7), b.subscribe(7)
    known = ChatMessage(id=12, session=7, sender="user", text="привет", created_at=utcnow(), previous_event_id=10)
    a.publish_stored(7, [known])
    item = here.get_nowait()
    assert isinstance(item, Committed) and [e["id"] for e in item.events] == [12] and item.previous == [10]
    assert await asyncio.wait_for(there.get(), timeout=3) is None  # elsewhere: a read
    # A row whose insert did not read previous_event_id back cannot be placed: this process reads it too.
    unknown = ChatMessage(id=13, session=7, sender="user", text="ещё", created_at=utcnow())
    a.publish_stored(7, [unknown])
    assert here.get_nowait() is None
