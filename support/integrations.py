"""Chat events for external systems, stored with the transition that caused them (webhook/outgoing.py delivers
them: signed, in order per URL, retried)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from models import IntegrationDelivery, IntegrationEvent, utcnow


class IntegrationSink:
    """What a change (support.store.Change.emit) stores at each transition: one delivery per webhook URL, and with
    `live` (the chats API is on) one row in the event log the live events socket streams. A no-op with neither."""

    def __init__(self, urls: Sequence[str] = (), *, live: bool = False) -> None:
        self.urls = tuple(urls)
        self.live = live
        self._listeners: set[asyncio.Event] = set()

    @property
    def active(self) -> bool:
        return bool(self.urls) or self.live

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        if not self.active:
            return
        body = json.dumps({"event": event, "created_at": utcnow().isoformat(timespec="milliseconds") + "Z",
                           "data": data}, ensure_ascii=False)
        for url in self.urls:
            await IntegrationDelivery.aio_create(url=url, event=event, payload=body)
        if self.live:
            await IntegrationEvent.aio_create(event=event, payload=body)

    def listen(self) -> asyncio.Event:
        """Set after a change with events commits (in this process; listeners also re-read now and then)."""
        signal = asyncio.Event()
        self._listeners.add(signal)
        return signal

    def unlisten(self, signal: asyncio.Event) -> None:
        self._listeners.discard(signal)

    def committed(self) -> None:
        for signal in self._listeners:
            signal.set()
