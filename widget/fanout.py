"""The widget's open sockets, grouped by session: a wake-up reads the session's new events once and hands each
socket what it has not had yet, instead of every socket keeping a task of its own that reads for itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
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
    (None: new stored events) and ephemeral events (typing), like any listener."""

    __slots__ = ("_again", "_load", "_reading", "session", "sockets")

    def __init__(self, session: VisitorSession, load: Load) -> None:
        self.session = session
        self.sockets: dict[web.WebSocketResponse, int] = {}
        self._load = load
        self._reading: asyncio.Task[None] | None = None
        self._again = False

    def put_nowait(self, item: Item, /) -> None:
        if item is None or isinstance(item, list):  # stored events (committed here or elsewhere): read them
            self.catch_up()
        else:
            _spawn(self._send_to_all(item))

    def catch_up(self) -> None:
        """Read what is new for the socket furthest behind; one read at a time, another after it if asked."""
        if self._reading is not None:
            self._again = True
            return
        self._reading = _spawn(self._read())

    async def _read(self) -> None:
        try:
            while self.sockets:
                self._again = False
                try:
                    batch = await self._load(self.session, min(self.sockets.values()), REPLAY_PAGE)
                except Exception:
                    log.warning("Reading events for session %s failed; retrying in %s s", self.session.id,
                                RETRY_SECONDS, exc_info=True)
                    asyncio.get_running_loop().call_later(RETRY_SECONDS, self.catch_up)
                    return
                for ws, last in list(self.sockets.items()):
                    await self._send_new(ws, last, batch)
                if len(batch) < REPLAY_PAGE and not self._again:
                    return
        finally:
            self._reading = None

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


def _spawn(work: Awaitable[None]) -> asyncio.Task[None]:
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


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
