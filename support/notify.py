"""Wake-ups that cross processes: PostgreSQL LISTEN/NOTIFY on one dedicated connection.

The payload carries ids only, never text: the tables stay the truth. When the listening connection is lost, it
reconnects and wakes every local listener, which re-reads after its own last event id: a lost notification
delays, never loses. (SQLite is the one-process mode and needs none of this.)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from typing import Any

from core.db import DatabaseURL, connect_dedicated, fetch_scalar
from models import ChatMessage
from support.events import Committed, EventHub, message_event

log = logging.getLogger(__name__)

CHANNEL = "ilpo_wake"
NOTIFY_PAYLOAD_LIMIT = 7000  # PostgreSQL refuses payloads of 8000 bytes or more


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
                connection = await connect_dedicated(self.url, f"ilpo-listen-{self.process}")
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
                    await fetch_scalar(connection, "SELECT 1")
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver

    async def _flush(self, connection: Any) -> None:
        pending, self._pending = self._pending, {}
        try:
            for kind, items in pending.items():
                for payload in _payloads(self.process, kind, list(items)):
                    await fetch_scalar(connection, "SELECT pg_notify(%s, %s)", (CHANNEL, payload))
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

    def wake_elsewhere(self, session_pk: int) -> None:
        self.notifier.publish(Wake.EVENTS, str(session_pk))

    def publish_stored(self, session_pk: int, messages: list[ChatMessage]) -> None:
        """Rows committed here go to this process's listeners from memory, each with the id of the session's row
        before it: another process may have committed that one a moment before, its notice still on the way, and
        a listener that has not had it re-reads instead (a session's ids commit in id order: migrations 007, 015).
        A row whose insert did not read that id back is re-read, as rows from elsewhere are."""
        if not all(_knows_previous(message) for message in messages):
            self.wake(session_pk)
            return
        self.wakes += 1  # also when nobody listens yet: a socket still opening must re-read
        if self._listeners.get(session_pk):
            self._push(session_pk, Committed([message_event(message) for message in messages],
                                             [message.previous_event_id for message in messages]))
        self.wake_elsewhere(session_pk)

    def publish_ephemeral(self, session_pk: int, event: dict[str, Any]) -> None:
        super().publish_ephemeral(session_pk, event)
        # Only the typing indicator crosses processes (it holds no text). Streamed AI drafts stay with the
        # process that generates them; the finished answer is a stored event and reaches every process.
        if event.get("type") == "typing" and event.get("author") in self.TYPING_AUTHORS:
            self.notifier.publish(Wake.TYPING, f"{session_pk}:{event['author']}:{int(bool(event.get('active')))}")

    def wake_every_listener(self) -> None:
        """After a gap in listening: each listener re-reads after its last event id (the catch-up)."""
        self.wakes += 1  # also for a socket still opening, attached to no session yet
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


def _knows_previous(message: ChatMessage) -> bool:
    """Whether the insert read the trigger's previous_event_id back (None is an answer too: the session's first)."""
    return "previous_event_id" in message.__data__
