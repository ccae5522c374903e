"""The widget's open sockets, grouped by session: a wake-up reads the session's new events once and hands each
socket what it has not had yet, instead of every socket keeping a task of its own that reads for itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from models import VisitorSession
from support.events import EventHub, Item

log = logging.getLogger(__name__)

REPLAY_PAGE = 200  # events per read; a long history arrives in pages
RETRY_SECONDS = 2.0  # after a failed read (the database away): try again, the sockets stay open
# (session, after, limit) -> the session's events after `after`, as the widget receives them
Load = Callable[[VisitorSession, int, int], Awaitable[list[dict[str, Any]]]]
_background: set[asyncio.Task[None]] = set()  # strong references, so running sends are not collected


class SessionSockets:
    """One session's sockets and the id of the last event each was sent. The event hub tells it of wake-ups
    (None: new stored events) and ephemeral events (typing), like any listener; they are handled one after
    the other, in the order they came (as a socket's own queue did), by a task that exists only while there
    is something to do."""

    __slots__ = ("_load", "_pending", "session", "sockets")

    def __init__(self, session: VisitorSession, load: Load) -> None:
        self.session = session
        self.sockets: dict[web.WebSocketResponse, int] = {}
        self._load = load
        self._pending: list[dict[str, Any] | None] | None = None  # None: nothing to do, no task

    def put_nowait(self, item: Item, /) -> None:
        if isinstance(item, list):  # rows committed here: read them like any stored events
            item = None
        if self._pending is None:
            self._pending = [item]
            _spawn(self._work())
        elif item is not None or None not in self._pending:  # a read not begun yet covers this wake-up too
            self._pending.append(item)

    def catch_up(self) -> None:
        """Read what is new for the socket furthest behind (after a wake-up, or for a socket joining)."""
        self.put_nowait(None)

    async def _work(self) -> None:
        try:
            while self._pending:
                item = self._pending.pop(0)
                try:
                    if item is None:
                        await self._read()
                    else:
                        await self._send_to_all(item)
                except Exception:
                    log.exception("Pushing to the sockets of session %s failed", self.session.id)
        finally:
            self._pending = None

    async def _read(self) -> None:
        while self.sockets:  # a long history arrives in pages; keep reading until it is all sent
            try:
                batch = await self._load(self.session, min(self.sockets.values()), REPLAY_PAGE)
            except Exception:
                log.warning("Reading events for session %s failed; retrying in %s s", self.session.id,
                            RETRY_SECONDS, exc_info=True)
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self.catch_up)
                return
            for ws, last in list(self.sockets.items()):
                await self._send_new(ws, last, batch)
            if len(batch) < REPLAY_PAGE:
                return

    async def _send_new(self, ws: web.WebSocketResponse, last: int, batch: list[dict[str, Any]]) -> None:
        for event in batch:
            if event["id"] <= last:
                continue
            try:
                await ws.send_json(event)
            except ConnectionError:  # closing: no use reading for it again (its handler calls leave)
                self.sockets.pop(ws, None)
                return
            if ws not in self.sockets:
                return
            self.sockets[ws] = last = event["id"]

    async def _send_to_all(self, event: dict[str, Any]) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(ConnectionError):
                await ws.send_json(event)


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


class LiveSockets:
    """Every session's open sockets (for the fan-out, and to say goodbye at shutdown)."""

    def __init__(self, hub: EventHub, load: Load) -> None:
        self.hub = hub
        self._load = load
        self._sessions: dict[int, SessionSockets] = {}

    def join(self, session: VisitorSession, ws: web.WebSocketResponse, after: int, *, replay: bool) -> None:
        """From now on the socket gets the session's events after `after`; `replay`: some may already be stored."""
        group = self._sessions.get(session.id)
        if group is None:
            group = self._sessions[session.id] = SessionSockets(session, self._load)
            self.hub.attach(session.id, group)
        group.session = session  # the newest read of it (an identity merge changes whose events it sees)
        group.sockets[ws] = after
        if replay:
            group.catch_up()

    def leave(self, session_pk: int, ws: web.WebSocketResponse) -> None:
        group = self._sessions.get(session_pk)
        if group is None:
            return
        group.sockets.pop(ws, None)
        if not group.sockets:
            del self._sessions[session_pk]
            self.hub.unsubscribe(session_pk, group)

    def all(self) -> list[web.WebSocketResponse]:
        return [ws for group in self._sessions.values() for ws in group.sockets]

    async def close(self) -> None:
        """Shutdown: every socket closed with 1001 (going away), so the widgets reconnect and resume elsewhere;
        no reading for them any more."""
        for session_pk, group in self._sessions.items():
            self.hub.unsubscribe(session_pk, group)
        await asyncio.gather(*(ws.close(code=1001, message=b"server shutdown") for ws in self.all()),
                             return_exceptions=True)


LIVE_SOCKETS = web.AppKey("live_sockets", LiveSockets)
