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
from typing import IO, TYPE_CHECKING, Any

from aiohttp import web

from core.db import DatabaseURL, connect_dedicated, fetch_scalar
from support.events import EventHub
from support.notify import ClusterEventHub, PgNotifier, Wake

if TYPE_CHECKING:  # the scheduler starts with the Telegram side, after the web server is up
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

# Two-key advisory locks: (namespace, role). The namespace keeps ours apart from any other user of the database.
LOCK_NAMESPACE = 0x11F0
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
                await fetch_scalar(self._connection, "SELECT pg_advisory_unlock_all()", timeout=3)
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
                self._connection = await connect_dedicated(self.url, f"ilpo-locks-{self.process}")
            elif self._held:
                # The locks live as long as this connection: check it still answers.
                await fetch_scalar(self._connection, "SELECT 1")
        except Exception as exc:
            await self._connection_lost(exc)
            return
        for role in [role for role in self._wanted if role not in self._held]:
            try:
                taken = await fetch_scalar(self._connection, "SELECT pg_try_advisory_lock(%s, %s)",
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


COORDINATOR: web.AppKey[Coordinator] = web.AppKey("coordinator", Coordinator)


def build_coordination(url: DatabaseURL, *, alone: bool = False, retry_seconds: float = 2.0
                       ) -> tuple[Coordinator, PgNotifier | None, EventHub]:
    """PostgreSQL: advisory-lock roles, LISTEN/NOTIFY wake-ups and a hub that spans processes.
    SQLite, or a process that is `alone` by nature (the sandbox serves its own Telegram, which no other process
    can reach): this process holds every role at once and wakes stay in memory."""
    if url.engine != "postgresql":
        return LocalCoordinator(url.database), None, EventHub()
    if alone:
        return LocalCoordinator(), None, EventHub()
    process = process_name()
    notifier = PgNotifier(url, process=process)
    coordinator = PgCoordinator(url, process=process, retry_seconds=retry_seconds)
    coordinator.attach_notifier(notifier)
    return coordinator, notifier, ClusterEventHub(notifier)


def process_name() -> str:
    """Names this process in logs, in pg_stat_activity and in /healthz."""
    return f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
