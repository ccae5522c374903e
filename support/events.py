"""In-process wake-ups for the widget's live connections.

Stored messages are the event log (their ids are the event ids), so a listener that missed a wake-up
loses nothing: it re-reads after its last id. Rows committed by this process reach its listeners straight from
memory (a list of their events), so a message costs no re-read here; a wake-up (None) from elsewhere or after a
gap makes the listener re-read. Ephemeral events (typing) are only pushed to whoever is listening at that moment.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from models import ChatMessage, Sender
from support.markdown import render_markdown


@dataclass(frozen=True, slots=True)
class Committed:
    """The events of rows this process just committed for one session, oldest first.

    `previous`: for each event, the id of the session's row before it (ChatMessage.previous_event_id), when other
    processes may write the session too. A listener gives an event from memory only to a reader that has had that
    row; a reader that has not re-reads (the row before is another process's, its notice still on the way). None:
    this process is the session's only writer, its rows reach the listeners in id order."""

    events: list[dict[str, Any]]
    previous: list[int | None] | None = None


# What a listener's queue carries: None (stored events exist: re-read), the rows this process committed, or an
# ephemeral event.
Item = dict[str, Any] | Committed | None


class Listener(Protocol):
    """Told each item (see Item) without waiting: an asyncio.Queue, or a session's socket fan-out."""

    def put_nowait(self, item: Item, /) -> None: ...


class EventHub:
    def __init__(self) -> None:
        self._listeners: dict[int, set[Listener]] = defaultdict(set)
        # Counts stored-event notices (wake-ups and committed rows): a listener that read the database before it
        # could attach compares the count from before its read with the count once attached; unchanged, it
        # missed nothing in between.
        self.wakes = 0

    def subscribe(self, session_pk: int) -> asyncio.Queue[Item]:
        queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=256)
        self.attach(session_pk, queue)
        return queue

    def attach(self, session_pk: int, listener: Listener) -> None:
        self._listeners[session_pk].add(listener)

    def unsubscribe(self, session_pk: int, listener: Listener) -> None:
        listeners = self._listeners.get(session_pk)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[session_pk]

    def wake(self, session_pk: int) -> None:
        """New stored events exist for this session: listeners re-read from the database."""
        self._push(session_pk, None)
        self.wake_elsewhere(session_pk)

    def publish_stored(self, session_pk: int, messages: list[ChatMessage]) -> None:
        """Rows this process just committed, oldest first: their events go to the local listeners as they are
        (rendered once for all of them); other processes' listeners are woken to re-read."""
        self.wakes += 1  # also when nobody listens yet: a socket still opening must re-read
        if self._listeners.get(session_pk):
            self._push(session_pk, Committed([message_event(message) for message in messages]))
        self.wake_elsewhere(session_pk)

    def wake_elsewhere(self, session_pk: int) -> None:
        """Listeners in other processes (none here: see support.notify.ClusterEventHub)."""

    def publish_ephemeral(self, session_pk: int, event: dict[str, Any]) -> None:
        self._push(session_pk, event)

    def _push(self, session_pk: int, item: Item) -> None:
        if item is None:
            self.wakes += 1
        for queue in list(self._listeners.get(session_pk, ())):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                # A stalled listener only needs to know "something changed": the oldest item makes room for a
                # re-read from the database, which brings every stored event it has not sent.
                queue.get_nowait()
                queue.put_nowait(None)

    def close_all(self) -> None:
        """Shutdown: wake every listener so long-polls and sockets can finish promptly."""
        for session_pk in list(self._listeners):
            self._push(session_pk, None)


# The aiohttp application carries the hub under this key (the widget's live connections listen on it).
HUB = web.AppKey("hub", EventHub)


def iso(value: Any) -> str:
    return value.isoformat(timespec="milliseconds") + "Z"


def message_event(message: ChatMessage) -> dict[str, Any]:
    """The widget's event for a stored message (the public contract of the events API)."""
    event: dict[str, Any] = {
        "id": message.id,
        "type": f"{message.sender}_message",
        "text": message.text,
        "created_at": iso(message.created_at),
    }
    if message.sender in (Sender.AI, Sender.MANAGER):
        event["html"] = render_markdown(message.text)
    if message.sender == Sender.MANAGER:
        event["author"] = {"name": message.author_name or ""}
        if message.edited_at is not None:
            event["edited"] = True
    if message.client_message_id:
        event["client_message_id"] = message.client_message_id
    meta = json.loads(message.meta) if message.meta else {}
    if message.sender == Sender.SYSTEM and "edited" in meta:
        # A manager edited an earlier message (its id): the widget rewrites that one and marks it "изменено".
        return {"id": message.id, "type": "message_edited", "message_id": meta["edited"], "text": message.text,
                "html": render_markdown(message.text), "created_at": iso(message.created_at)}
    if "attachment" in meta:
        event["attachment"] = meta["attachment"]
    if message.sender == Sender.AI and meta.get("more"):
        event["more_html"] = render_markdown(meta["more"])  # the whole entry, behind «Подробнее»
    if message.sender == Sender.AI and meta.get("chips"):
        event["chips"] = meta["chips"]  # related questions; the widget shows them under its latest message only
    if message.sender == Sender.SYSTEM and meta:
        if "status" in meta:
            event["chat"] = {key: value for key, value in meta.items()
                             if key in ("status", "manager", "queued", "after_hours")}
        if meta.get("offer_manager"):
            event["offer_manager"] = True
        if meta.get("rate"):
            event["rating_request"] = {"support_chat_id": meta["rate"]}
        if "position" in meta:
            event["queue"] = {"position": meta["position"], "eta_minutes": meta.get("eta_minutes")}
    return event
