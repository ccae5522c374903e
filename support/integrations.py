"""Chat events for external systems, stored with the transition that caused them (webhook/outgoing.py delivers
them: signed, in order per URL, retried)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from models import IntegrationDelivery, utcnow


class IntegrationSink:
    """What a change (support.store.Change.emit) stores at each transition; a no-op without webhook URLs."""

    def __init__(self, urls: Sequence[str] = ()) -> None:
        self.urls = tuple(urls)

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        if not self.urls:
            return
        body = json.dumps({"event": event, "created_at": utcnow().isoformat(timespec="milliseconds") + "Z",
                           "data": data}, ensure_ascii=False)
        for url in self.urls:
            await IntegrationDelivery.aio_create(url=url, event=event, payload=body)
