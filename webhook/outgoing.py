"""Outgoing webhooks: chat events for external systems (a CRM), delivered with retries and signed.

support.integrations.IntegrationSink stores each event as one row per configured URL in the same transaction
as the transition that caused it; IntegrationWorker POSTs them in order per URL with `X-ILPO-Event`,
`X-ILPO-Delivery` (a stable id to deduplicate on) and `X-ILPO-Signature: sha256=<HMAC-SHA256 of the body>`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import aiohttp

from models import IntegrationDelivery, OutboxStatus
from support.delivery import DeliveryWorker, backoff

log = logging.getLogger(__name__)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class IntegrationWorker(DeliveryWorker):
    name = "integrations"
    model = IntegrationDelivery
    destination = "url"  # events reach each system in the order they happened

    def __init__(self, secret: str, *, timeout_seconds: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._http: aiohttp.ClientSession | None = None

    async def stop(self) -> None:
        await super().stop()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _deliver(self, row: IntegrationDelivery) -> int:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self.timeout)
        body = row.payload.encode()
        headers = {"Content-Type": "application/json", "X-ILPO-Event": row.event, "X-ILPO-Delivery": str(row.id),
                   "User-Agent": "ilpo-taxi-support"}
        if self.secret:
            headers["X-ILPO-Signature"] = signature(self.secret, body)
        try:
            async with self._http.post(row.url, data=body, headers=headers) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After", "")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._retry(row, backoff(row.attempts), f"{type(exc).__name__}: {exc}")
            return 0
        if 200 <= status < 300:
            await self._finish(row, OutboxStatus.SENT)
            return 1
        if status == 429 or status >= 500:
            delay = float(retry_after) if retry_after.isdigit() else backoff(row.attempts)
            await self._retry(row, delay, f"HTTP {status}")
            return 0
        log.error("Integration webhook %s refused %s (delivery %s): HTTP %s", row.url, row.event, row.id, status)
        await self._finish(row, OutboxStatus.FAILED, error=f"HTTP {status}")
        return 0
