"""Getting updates: long polling (getUpdates) and webhook delivery, with Telegram's conflicts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .model import TelegramError, bad_request
from .transport import Transport

log = logging.getLogger(__name__)

# Telegram excludes these three unless asked for explicitly.
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class UpdateDelivery(Transport):
    """getUpdates, setWebhook/deleteWebhook/getWebhookInfo and the webhook pusher."""

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._webhook_url:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0, int(params.get("timeout") or 0))
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self._allowed_updates = tuple(params["allowed_updates"]) or None
        self._confirm(offset)
        # A newer getUpdates terminates the older one, exactly as Telegram does when
        # two bot instances poll at once; this makes a duplicated poller visible.
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise TelegramError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            if self._webhook_url:
                return []
            ready = self._deliverable()[:limit]
            if ready:
                return ready
            if self._closing:
                # A poller that keeps asking during shutdown would otherwise spin on instant answers.
                await asyncio.sleep(0.05)
                return []
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._updates_signal.wait(remaining)

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed_updates is None:
            return kind not in _OPT_IN_UPDATES
        return kind in self._allowed_updates

    def _deliverable(self) -> list[dict[str, Any]]:
        # Updates the bot did not subscribe to are dropped, as Telegram never stores them.
        self._updates = [u for u in self._updates if self._allowed(u)]
        return list(self._updates)

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        url = str(params["url"])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = tuple(params["allowed_updates"]) or None
        self._webhook_max_connections = int(params.get("max_connections") or 40)
        self._webhook_url = url
        self._webhook_secret = str(secret) if secret else None
        self._webhook_last_error = None
        self._updates_signal.notify()
        self._ensure_webhook_delivery()
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self._webhook_url = ""
        self._webhook_secret = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        await self._stop_webhook_delivery()
        self._updates_signal.notify()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._deliverable()),
        }
        if self._webhook_url:
            info["max_connections"] = self._webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates is not None:
                info["allowed_updates"] = list(self._allowed_updates)
        if self._webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    def _ensure_webhook_delivery(self) -> None:
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhooks())

    async def _stop_webhook_delivery(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver_webhooks(self) -> None:
        """Push pending updates one at a time, in order, retrying until the bot answers 2xx."""
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession()
        while self._webhook_url and not self._closing:
            pending = self._deliverable()
            if not pending:
                await self._updates_signal.wait(1.0)
                continue
            update = pending[0]
            headers = {"Content-Type": "application/json"}
            if self._webhook_secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self._webhook_secret
            try:
                async with self._client.post(
                    self._webhook_url,
                    data=json.dumps(update, ensure_ascii=False),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=60),
                ) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as err:
                self._webhook_failed(f"Connection failed: {type(err).__name__}: {err}")
                await asyncio.sleep(self.webhook_retry_delay)
                continue
            if not 200 <= status < 300:
                self._webhook_failed(f"Wrong response from the webhook: {status} {resp.reason}")
                await asyncio.sleep(self.webhook_retry_delay)
                continue
            self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
            await self._run_webhook_reply(body)

    def _webhook_failed(self, message: str) -> None:
        self._webhook_last_error = (int(time.time()), message)
        log.info("fake Bot API: webhook delivery failed: %s", message)

    async def _run_webhook_reply(self, body: bytes) -> None:
        # Telegram executes a method returned in the webhook response body (aiogram uses
        # this when handlers answer synchronously), so the fake does as well.
        if not body.strip():
            return
        try:
            reply = json.loads(body)
        except ValueError:
            return
        if isinstance(reply, dict) and isinstance(reply.get("method"), str):
            params = {k: v for k, v in reply.items() if k != "method"}
            with contextlib.suppress(TelegramError):
                await self.call(reply["method"], params)
