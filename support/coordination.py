"""Several processes on one PostgreSQL: who leads, who polls Telegram, and how a change wakes every process.

PostgreSQL already holds everything, so it carries the coordination too (no extra server):

- Roles are session-level advisory locks held on one dedicated connection (`PgCoordinator`). A process that
  does not hold a role retries every few seconds; when the holder dies its connection closes, PostgreSQL
  frees the lock, and the next try takes it over. A holder that loses its connection gives the role up at
  once (the lock went with the connection). Roles: LEADER (scheduled jobs and the one outbox/CRM sender) and
  POLLER (Telegram getUpdates, polling mode only).
- Wake-ups travel through LISTEN/NOTIFY on another dedicated connection (`PgNotifier`). The payload carries
  ids only, never text: the tables stay the truth. When the listening connection is lost, it reconnects and
  wakes every local listener, which re-reads after its own last event id: a lost notification delays, never
  loses.

SQLite is the one-process mode: `LocalCoordinator` holds every role at once and wakes stay in process; a
lock file next to the database notices a second process and says so at start.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import fcntl
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from aiogram import Bot, Dispatcher
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.db import DatabaseURL
from support.events import EventHub

log = logging.getLogger(__name__)

# Two-key advisory locks: (namespace, role). The namespace keeps ours apart from any other user of the database.
LOCK_NAMESPACE = 0x11F0
CHANNEL = "ilpo_wake"
NOTIFY_PAYLOAD_LIMIT = 7000  # PostgreSQL refuses payloads of 8000 bytes or more
RoleHook = Callable[[], Awaitable[None]]


class Role(enum.IntEnum):
    LEADER = 1  # scheduled jobs and the single outbox / CRM webhook sender
    POLLER = 2  # Telegram getUpdates (polling mode)


class Coordinator(abc.ABC):
    """Which roles this process holds now, and hooks run when a role is gained or lost."""

    def __init__(self) -> None:
        self._held: set[Role] = set()
        self._wanted: dict[Role, tuple[RoleHook | None, RoleHook | None]] = {}

    def want(self, role: Role, *, on_gain: RoleHook | None = None, on_lose: RoleHook | None = None) -> None:
        """Ask for a role (call before start)."""
        self._wanted[role] = (on_gain, on_lose)

    def holds(self, role: Role) -> bool:
        return role in self._held

    def is_leader(self) -> bool:
        return Role.LEADER in self._held

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop taking roles (shutdown begins); the roles held are kept until release()."""

    @abc.abstractmethod
    async def release(self) -> None:
        """Give every role up at once, so another process takes over within its next retry."""

    @abc.abstractmethod
    def status(self) -> dict[str, Any]:
        """This process's role, for /healthz."""

    async def _gain(self, role: Role) -> None:
        self._held.add(role)
        log.info("This process now holds the %s role", role.name.lower())
        hook = self._wanted[role][0]
        if hook is not None:
            await _run_hook(f"gaining {role.name.lower()}", hook)

    async def _lose(self, role: Role) -> None:
        self._held.discard(role)
        log.warning("This process no longer holds the %s role", role.name.lower())
        hook = self._wanted[role][1]
        if hook is not None:
            await _run_hook(f"losing {role.name.lower()}", hook)


async def _run_hook(what: str, hook: RoleHook) -> None:
    try:
        await asyncio.wait_for(hook(), timeout=30)
    except Exception:
        log.exception("Coordination hook for %s failed", what)


class LocalCoordinator(Coordinator):
    """SQLite: one process does everything. Warns when another process already uses the same file."""

    def __init__(self, sqlite_path: str | None = None) -> None:
        super().__init__()
        self.sqlite_path = sqlite_path
        self.shared_with_another_process = False
        self._lock_file: IO[bytes] | None = None

    async def start(self) -> None:
        if self.sqlite_path:
            self._check_alone(Path(self.sqlite_path + ".process-lock"))
        for role in self._wanted:
            await self._gain(role)

    def _check_alone(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            self.shared_with_another_process = True
            log.warning(
                "Another process already serves the SQLite database %s. SQLite is the one-process mode: both "
                "processes would run the scheduled jobs, send the outbox and wake only their own widgets. "
                "Run several processes on PostgreSQL instead (README, 'Running several processes').",
                self.sqlite_path)
            return
        self._lock_file = handle  # held (and the lock with it) for the life of the process

    async def stop(self) -> None:
        """Nothing to stop retrying: no other process can take a role over, so it is kept until release()."""

    async def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def status(self) -> dict[str, Any]:
        return {"engine": "sqlite", "jobs_leader": self.is_leader(), "poller": self.holds(Role.POLLER),
                "listening": None, "shared_sqlite_file": self.shared_with_another_process}


def _connect_kwargs(url: DatabaseURL) -> dict[str, Any]:
    # TCP keepalives let the kernel notice a dead server (or a dead network) without waiting for a query.
    kwargs: dict[str, Any] = {"dbname": url.database, "host": url.host, "port": url.port, "keepalives": 1,
                              "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}
    if url.user:
        kwargs["user"] = url.user
    if url.password:
        kwargs["password"] = url.password
    return kwargs


async def _connect(url: DatabaseURL, application_name: str) -> Any:
    import aiopg

    return await aiopg.connect(timeout=5, application_name=application_name, **_connect_kwargs(url))


async def _scalar(connection: Any, sql: str, args: tuple[Any, ...] = (), timeout: float = 5) -> Any:
    async def run() -> Any:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, args)
            row = await cursor.fetchone()
            return row[0] if row else None

    return await asyncio.wait_for(run(), timeout=timeout)


class PgCoordinator(Coordinator):
    """Roles as PostgreSQL advisory locks on one dedicated connection, re-tried every `retry_seconds`."""

    def __init__(self, url: DatabaseURL, *, process: str, retry_seconds: float = 2.0) -> None:
        super().__init__()
        self.url = url
        self.process = process
        self.retry_seconds = retry_seconds
        self._connection: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._notifier: PgNotifier | None = None

    def attach_notifier(self, notifier: PgNotifier) -> None:
        self._notifier = notifier

    async def start(self) -> None:
        self._stopping = False
        await self._round()  # roles free right now are taken before start() returns
        self._task = asyncio.create_task(self._run(), name="coordination")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def release(self) -> None:
        await self.stop()
        self._held.clear()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await _scalar(self._connection, "SELECT pg_advisory_unlock_all()", timeout=3)
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    def status(self) -> dict[str, Any]:
        return {
            "engine": "postgresql", "process": self.process, "jobs_leader": self.is_leader(),
            "poller": self.holds(Role.POLLER) if Role.POLLER in self._wanted else None,
            "listening": self._notifier.listening if self._notifier is not None else None,
            "lock_connection": self._connection is not None and not self._connection.closed,
        }

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.retry_seconds)
            await self._round()

    async def _round(self) -> None:
        if self._held and (self._connection is None or self._connection.closed):
            # The connection broke under us: whatever it held is gone, even if a new one could take it back.
            await self._connection_lost(ConnectionError("the lock connection closed"))
        try:
            if self._connection is None or self._connection.closed:
                self._connection = await _connect(self.url, f"ilpo-locks-{self.process}")
            elif self._held:
                # The locks live as long as this connection: check it still answers.
                await _scalar(self._connection, "SELECT 1")
        except Exception as exc:
            await self._connection_lost(exc)
            return
        for role in [role for role in self._wanted if role not in self._held]:
            try:
                taken = await _scalar(self._connection, "SELECT pg_try_advisory_lock(%s, %s)",
                                      (LOCK_NAMESPACE, int(role)))
            except Exception as exc:
                await self._connection_lost(exc)
                return
            if taken:
                await self._gain(role)

    async def _connection_lost(self, exc: Exception) -> None:
        if self._held:
            log.error("Lost the coordination connection (%s: %s); giving up every role until it is back",
                      type(exc).__name__, exc)
        else:
            log.warning("Coordination connection unavailable: %s: %s", type(exc).__name__, exc)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
        for role in list(self._held):
            await self._lose(role)


class Wake(enum.StrEnum):
    EVENTS = "e"  # session ids with new stored widget events
    TYPING = "t"  # session:author:0|1 (a typing indicator; never any text)
    OUTBOX = "o"  # rows are waiting in the outbox or the CRM deliveries: the sender should look


WakeHandler = Callable[[list[str]], None]


class PgNotifier:
    """LISTEN/NOTIFY on one dedicated connection, reconnecting for ever; sends are batched and kept until sent.

    The payload is `<process>|<kind>|<item>,<item>…` with ids only; a process ignores its own notifications
    (it woke its own listeners directly).
    """

    def __init__(self, url: DatabaseURL, *, process: str, keepalive_seconds: float = 5.0) -> None:
        self.url = url
        self.process = process
        self.keepalive_seconds = keepalive_seconds
        self.listening = False
        self._handlers: dict[Wake, WakeHandler] = {}
        self._on_reconnect: list[Callable[[], None]] = []
        self._pending: dict[Wake, dict[str, None]] = {}  # ordered sets
        self._send = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.received = 0  # notifications from other processes, for tests and /healthz

    def on(self, kind: Wake, handler: WakeHandler) -> None:
        self._handlers[kind] = handler

    def on_reconnect(self, handler: Callable[[], None]) -> None:
        """Called each time listening (re)starts: whatever was notified meanwhile must be re-read."""
        self._on_reconnect.append(handler)

    def publish(self, kind: Wake, item: str) -> None:
        self._pending.setdefault(kind, {})[item] = None
        self._send.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="notifier")
        # Start serving only once the first LISTEN is in place (or has failed for now; it keeps trying).
        for _ in range(50):
            if self.listening:
                break
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self._stopping = True
        self._send.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.listening = False

    async def _run(self) -> None:
        delay = 0.2
        while not self._stopping:
            connection = None
            try:
                connection = await _connect(self.url, f"ilpo-listen-{self.process}")
                async with connection.cursor() as cursor:
                    await cursor.execute(f"LISTEN {CHANNEL}")
                self.listening = True
                delay = 0.2
                log.info("Listening for other processes' changes (PostgreSQL LISTEN %s)", CHANNEL)
                for handler in self._on_reconnect:
                    handler()
                await self._serve(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.listening:
                    log.error("Lost the listening connection (%s: %s); reconnecting", type(exc).__name__, exc)
                else:
                    log.warning("Cannot listen for other processes yet: %s: %s", type(exc).__name__, exc)
            finally:
                self.listening = False
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.close()
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)

    async def _serve(self, connection: Any) -> None:
        """Receive on a side task; this task alone runs statements (sends and keep-alives) on the connection."""
        receiver = asyncio.create_task(self._receive(connection))
        try:
            while not self._stopping:
                if receiver.done():
                    receiver.result()  # re-raises what ended it
                    raise ConnectionError("the listening connection closed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._send.wait(), timeout=self.keepalive_seconds)
                self._send.clear()
                if self._pending:
                    await self._flush(connection)
                else:
                    await _scalar(connection, "SELECT 1")
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver

    async def _flush(self, connection: Any) -> None:
        pending, self._pending = self._pending, {}
        try:
            for kind, items in pending.items():
                for payload in _payloads(self.process, kind, list(items)):
                    await _scalar(connection, "SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        except BaseException:
            # Not sent: keep it for the next connection (merged with anything published since).
            for kind, items in pending.items():
                self._pending.setdefault(kind, {}).update(items)
            raise

    async def _receive(self, connection: Any) -> None:
        while True:
            notification = await connection.notifies.get()
            self._dispatch(str(notification.payload))

    def _dispatch(self, payload: str) -> None:
        try:
            origin, kind, items = payload.split("|", 2)
            wake = Wake(kind)
        except ValueError:
            log.warning("Ignoring a malformed notification %r", payload[:100])
            return
        if origin == self.process:
            return
        self.received += 1
        handler = self._handlers.get(wake)
        if handler is not None:
            try:
                handler([item for item in items.split(",") if item])
            except Exception:
                log.exception("Handling a %s notification failed", wake.name.lower())


def _payloads(process: str, kind: Wake, items: list[str]) -> list[str]:
    head = f"{process}|{kind.value}|"
    payloads, current = [], head
    for item in items or [""]:
        if len(current) + len(item) + 1 > NOTIFY_PAYLOAD_LIMIT and current != head:
            payloads.append(current.rstrip(","))
            current = head
        current += item + ","
    payloads.append(current.rstrip(","))
    return payloads


class ClusterEventHub(EventHub):
    """The in-process hub, plus: every wake is also told to the other processes, and theirs to us."""

    TYPING_AUTHORS = ("ai", "manager")

    def __init__(self, notifier: PgNotifier) -> None:
        super().__init__()
        self.notifier = notifier
        notifier.on(Wake.EVENTS, self._remote_events)
        notifier.on(Wake.TYPING, self._remote_typing)
        notifier.on_reconnect(self.wake_every_listener)

    def wake(self, session_pk: int) -> None:
        super().wake(session_pk)
        self.notifier.publish(Wake.EVENTS, str(session_pk))

    def publish_ephemeral(self, session_pk: int, event: dict[str, Any]) -> None:
        super().publish_ephemeral(session_pk, event)
        # Only the typing indicator crosses processes (it holds no text). Streamed AI drafts stay with the
        # process that generates them; the finished answer is a stored event and reaches every process.
        if event.get("type") == "typing" and event.get("author") in self.TYPING_AUTHORS:
            self.notifier.publish(Wake.TYPING, f"{session_pk}:{event['author']}:{int(bool(event.get('active')))}")

    def wake_every_listener(self) -> None:
        """After a gap in listening: each listener re-reads after its last event id (the catch-up)."""
        for session_pk in list(self._listeners):
            self._push(session_pk, None)

    def _remote_events(self, items: list[str]) -> None:
        for item in items:
            if item.isdigit():
                self._push(int(item), None)

    def _remote_typing(self, items: list[str]) -> None:
        for item in items:
            session, author, active = [*item.split(":"), "", "", ""][:3]
            if session.isdigit() and author in self.TYPING_AUTHORS:
                self._push(int(session), {"type": "typing", "author": author, "active": active == "1"})


def single_sender(coordinator: Coordinator, notifier: PgNotifier | None, workers: list[Any]) -> None:
    """The leader alone sends the outbox and the CRM deliveries; any other process wakes it through NOTIFY.

    One sender (rather than rows claimed by every process) keeps per-chat order trivially and lets the bot-wide
    Telegram pacing live in one place, correct for the bot as a whole.
    """
    for worker in workers:
        worker.gate = coordinator.is_leader
        if notifier is not None:
            worker.forward_wake = lambda: notifier.publish(Wake.OUTBOX, "")

    def wake_all(_items: list[str] | None = None) -> None:
        if coordinator.is_leader():
            for worker in workers:
                worker.wake()

    async def on_gain() -> None:
        wake_all()  # rows a previous leader left pending are sent now

    coordinator.want(Role.LEADER, on_gain=on_gain)
    if notifier is not None:
        notifier.on(Wake.OUTBOX, wake_all)
        notifier.on_reconnect(wake_all)


def leader_only_jobs(scheduler: AsyncIOScheduler, coordinator: Coordinator) -> None:
    """Every scheduled job runs only while this process leads; the jobs derive their work from the database,
    so the next leader simply carries on."""
    for job in scheduler.get_jobs():
        job.modify(func=_gated(job.func, coordinator))


def _gated(func: Callable[[], Awaitable[Any]], coordinator: Coordinator) -> Callable[[], Awaitable[Any]]:
    async def gated() -> Any:
        if not coordinator.is_leader():
            return None
        return await func()

    gated.__name__ = getattr(func, "__name__", "job")
    return gated


class TelegramPoller:
    """getUpdates, started when this process gets the poller role and stopped when it loses it."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self._task: asyncio.Task[None] | None = None

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.polling:
            return
        with contextlib.suppress(Exception):
            await self.bot.delete_webhook(drop_pending_updates=False)
        self._task = asyncio.create_task(
            self.dispatcher.start_polling(
                # One update at a time: a manager's messages must reach the visitor in the order typed.
                self.bot, handle_signals=False, close_bot_session=False, polling_timeout=10, handle_as_tasks=False,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            ),
            name="telegram-polling",
        )
        log.info("Polling Telegram for updates")

    async def stop(self) -> None:
        if self._task is None:
            return
        # aiogram's stop_polling waits, without a deadline, for the polling loop to notice; give it one,
        # then cancel the loop (an update being handled then is retried by Telegram: updates are idempotent).
        with contextlib.suppress(RuntimeError, TimeoutError):
            await asyncio.wait_for(self.dispatcher.stop_polling(), timeout=15)
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._task, timeout=5)
        self._task = None


COORDINATOR: web.AppKey[Coordinator] = web.AppKey("coordinator", Coordinator)


def build_coordination(url: DatabaseURL, *, retry_seconds: float = 2.0
                       ) -> tuple[Coordinator, PgNotifier | None, EventHub]:
    """PostgreSQL: advisory-lock roles, LISTEN/NOTIFY wake-ups and a hub that spans processes.
    SQLite: one process holds every role and wakes stay in memory."""
    if url.engine != "postgresql":
        return LocalCoordinator(url.database), None, EventHub()
    process = process_name()
    notifier = PgNotifier(url, process=process)
    coordinator = PgCoordinator(url, process=process, retry_seconds=retry_seconds)
    coordinator.attach_notifier(notifier)
    return coordinator, notifier, ClusterEventHub(notifier)


def process_name() -> str:
    """Names this process in logs, in pg_stat_activity and in /healthz."""
    return f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
