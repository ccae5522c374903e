"""The widget's open sockets, grouped by session: a wake-up reads the session's new events once and hands each
socket what it has not had yet, and rows this process committed are handed out from memory with no read at all,
instead of every socket keeping a task of its own that reads for itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from models import VisitorSession
from support.events import Committed, EventHub, Item

log = logging.getLogger(__name__)

REPLAY_PAGE = 200  # events per read; a long history arrives in pages
RETRY_SECONDS = 2.0  # after a failed read (the database away): try again, the sockets stay open
# (session, after, limit) -> the session's events after `after`, as the widget receives them
Load = Callable[[VisitorSession, int, int], Awaitable[list[dict[str, Any]]]]
# (session, stored event) -> the event as the widget receives it (a file gets its short-lived signed link)
Link = Callable[[VisitorSession, dict[str, Any]], dict[str, Any]]
_background: set[asyncio.Task[None]] = set()  # strong references, so running sends are not collected


class SessionSockets:
    """One session's sockets and, for each, how far the events table has been read for it. The event hub tells
    it of wake-ups (None: stored events to read), rows this process committed (a list of their events, sent from
    memory without a read) and ephemeral events (typing), like any listener; they are handled one after the
    other, in the order they came, by a task that exists only while there is something to do.

    An event sent from memory does not move a socket's read position: a row another process committed with a
    lower id, whose wake-up is still on its way, must not be skipped by the next read. Those ids are kept in
    `_fresh` until a read passes them, so the read does not send them twice."""

    __slots__ = ("_fresh", "_link", "_load", "_pending", "session", "sockets")

    def __init__(self, session: VisitorSession, load: Load, link: Link) -> None:
        self.session = session
        self.sockets: dict[web.WebSocketResponse, int] = {}
        self._load = load
        self._link = link
        self._fresh: dict[web.WebSocketResponse, set[int]] = {}
        self._pending: list[Item] | None = None  # None: nothing to do, no task

    def put_nowait(self, item: Item, /) -> None:
        if self._pending is None:
            self._pending = [item]
            _spawn(self._work())
        elif isinstance(item, dict) or None not in self._pending:  # a read not begun yet covers stored events
            self._pending.append(item)

    def catch_up(self) -> None:
        """Read what is new for the socket furthest behind (after a wake-up, or for a socket joining)."""
        self.put_nowait(None)

    def forget(self, ws: web.WebSocketResponse) -> None:
        self.sockets.pop(ws, None)
        self._fresh.pop(ws, None)

    async def _work(self) -> None:
        try:
            while self._pending:
                item = self._pending.pop(0)
                try:
                    if item is None:
                        await self._read()
                    elif isinstance(item, Committed):
                        await self._send_committed(item)
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
        fresh = self._fresh.get(ws, ())
        for event in batch:
            if event["id"] <= last:
                continue
            if event["id"] not in fresh:  # not already sent from memory
                try:
                    await ws.send_json(event)
                except ConnectionError:  # closing: no use reading for it again (its handler calls leave)
                    self.forget(ws)
                    return
            if ws not in self.sockets:
                return
            self.sockets[ws] = last = event["id"]
        if fresh:
            remaining = {event_id for event_id in fresh if event_id > last}
            if remaining:
                self._fresh[ws] = remaining
            else:
                del self._fresh[ws]

    async def _send_committed(self, committed: Committed) -> None:
        # Linked once for all of the session's sockets.
        linked = [self._link(self.session, event) for event in committed.events]
        previous = committed.previous or [None] * len(linked)
        behind = False
        for ws, last in list(self.sockets.items()):
            fresh = self._fresh.setdefault(ws, set())
            for event, before in zip(linked, previous, strict=True):
                if event["id"] <= last or event["id"] in fresh:
                    continue
                if committed.previous is not None and before is not None and before > last and before not in fresh:
                    # The session's row before this one is another process's and has not reached this socket yet:
                    # a read brings both, in order.
                    behind = True
                    break
                try:
                    await ws.send_json(event)
                except ConnectionError:
                    self.forget(ws)
                    break
                fresh.add(event["id"])
            if len(fresh) >= REPLAY_PAGE:
                behind = True  # now and then a read moves the position on, so `fresh` stays small
        if behind:
            self.catch_up()

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

    def __init__(self, hub: EventHub, load: Load, link: Link) -> None:
        self.hub = hub
        self._load = load
        self._link = link
        self._sessions: dict[int, SessionSockets] = {}

    def join(self, session: VisitorSession, ws: web.WebSocketResponse, after: int, *, replay: bool) -> None:
        """From now on the socket gets the session's events after `after`; `replay`: some may already be stored."""
        group = self._sessions.get(session.id)
        if group is None:
            group = self._sessions[session.id] = SessionSockets(session, self._load, self._link)
            self.hub.attach(session.id, group)
        group.session = session  # the newest read of it (an identity merge changes whose events it sees)
        group.sockets[ws] = after
        if replay:
            group.catch_up()

    def leave(self, session_pk: int, ws: web.WebSocketResponse) -> None:
        group = self._sessions.get(session_pk)
        if group is None:
            return
        group.forget(ws)
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
