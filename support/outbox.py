"""The persisted outbox: Bot API calls that must reach Telegram, whatever Telegram does meanwhile.

A call is written in the same transaction as what caused it (a visitor message, a handoff), then
delivered by OutboxWorker: retried with backoff on network errors and 5xx, after `retry_after` on 429,
one at a time per Telegram chat so a chat's messages keep their order, and picked up again after a
restart because the rows are the queue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiogram import Bot, methods
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from models import Outbox, OutboxStatus
from support.delivery import DeliveryWorker, backoff

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class OutgoingCall:
    """One Bot API call to make, in Telegram's own method and field names."""

    chat_id: int
    method: str
    params: dict[str, Any]
    purpose: str = "notice"
    support_chat_id: int | None = None
    # For editMessageText/editMessageReplyMarkup: the outbox row whose sent message is edited.
    edits_outbox_id: int | None = None
    # A call for a chat's topic (support.topics): its message_thread_id is filled in when delivered.
    topic_id: int | None = None
    tags: dict[str, Any] = field(default_factory=dict)


async def enqueue(calls: list[OutgoingCall]) -> list[Outbox]:
    """Store calls; call inside the transaction that stores their cause, then wake the worker."""
    rows = []
    for call in calls:
        rows.append(
            await Outbox.aio_create(
                chat_id=call.chat_id,
                method=call.method,
                payload=json.dumps(call.params, ensure_ascii=False),
                purpose=call.purpose,
                support_chat=call.support_chat_id,
                edits=call.edits_outbox_id,
                topic=call.topic_id,
            )
        )
    return rows


def _method_class(name: str) -> type[methods.TelegramMethod[Any]]:
    cls = getattr(methods, name[0].upper() + name[1:], None)
    if cls is None:
        raise ValueError(f"unknown Bot API method {name!r}")
    return cls  # type: ignore[no-any-return]


DeliveredHook = Callable[[Outbox, Any], Awaitable[None]]


class Threads(Protocol):
    """Where a call meant for a topic goes (support.topics.TopicDelivery): its thread, or the general one."""

    async def prepare(self, row: Outbox, params: dict[str, Any]) -> dict[str, Any] | None:
        """The params to send (thread id set or dropped), or None when there is nothing to do any more."""

    async def delivered(self, row: Outbox, result: Any) -> None: ...

    async def refused(self, row: Outbox, error: TelegramBadRequest) -> bool:
        """Telegram refused a topic call; True when the row should simply be tried again now."""
# Turns {"attachment_id": N} in a stored call into the file to upload (the JSON row cannot hold bytes).
FileSource = Callable[[int], Awaitable[Any]]
FILE_FIELDS = ("document", "photo")


class OutboxWorker(DeliveryWorker):
    name = "outbox"
    model = Outbox
    destination = "chat_id"  # one queue per Telegram chat keeps a chat's messages in order

    def __init__(
        self, bot: Bot, *, files: FileSource | None = None, threads: Threads | None = None, batch: int = 200,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        super().__init__(batch=batch, idle_poll_seconds=idle_poll_seconds)
        self.bot = bot
        self.files = files
        self.threads = threads
        self._on_delivered: list[DeliveredHook] = []

    def on_delivered(self, hook: DeliveredHook) -> None:
        self._on_delivered.append(hook)

    async def _deliver(self, row: Outbox) -> int:
        params = json.loads(row.payload)
        if row.edits_id is not None:
            target = await Outbox.aio_get_or_none(Outbox.id == row.edits_id)
            if target is None or target.status == OutboxStatus.FAILED or target.telegram_message_id is None:
                # The message to edit never reached Telegram: there is nothing to edit.
                await self._finish(row, OutboxStatus.FAILED, error="edited message was never delivered")
                return 0
            params["message_id"] = target.telegram_message_id
        for field_name in FILE_FIELDS:
            reference = params.get(field_name)
            if isinstance(reference, dict) and "attachment_id" in reference:
                try:
                    if self.files is None:
                        raise LookupError("no file source configured")
                    params[field_name] = await self.files(int(reference["attachment_id"]))
                except Exception as exc:  # a missing file must not block the chat's queue behind it
                    log.error("Outbox call %s has no file to send: %s", row.id, exc)
                    await self._finish(row, OutboxStatus.FAILED, error=f"file unavailable: {exc}")
                    return 0
        if row.topic_id is not None and self.threads is not None:
            prepared = await self.threads.prepare(row, params)
            if prepared is None:
                await self._finish(row, OutboxStatus.FAILED, error="its topic is gone")
                return 0
            params = prepared
        try:
            call = _method_class(row.method)(**params)
            result = await self.bot(call)
        except TelegramRetryAfter as exc:
            await self._retry(row, float(exc.retry_after), f"429 retry after {exc.retry_after}s")
            return 0
        except (TelegramServerError, TelegramNetworkError, TimeoutError, OSError) as exc:
            await self._retry(row, backoff(row.attempts), f"{type(exc).__name__}: {exc}")
            return 0
        except TelegramBadRequest as exc:
            if "message is not modified" in exc.message:
                await self._finish(row, OutboxStatus.SENT)
                return 1
            if row.topic_id is not None and self.threads is not None and await self.threads.refused(row, exc):
                # The topic is gone: the call goes again at once, to a new topic or the general thread.
                await self._retry(row, 0, f"topic gone: {exc.message}")
                return 0
            log.error("Telegram refused outbox call %s (%s to %s): %s", row.id, row.method, row.chat_id, exc)
            await self._finish(row, OutboxStatus.FAILED, error=str(exc))
            return 0
        except (TelegramForbiddenError, TelegramAPIError, ValueError) as exc:
            log.error("Outbox call %s (%s to %s) failed for good: %s", row.id, row.method, row.chat_id, exc)
            await self._finish(row, OutboxStatus.FAILED, error=str(exc))
            return 0
        message_id = getattr(result, "message_id", None)
        await self._finish(row, OutboxStatus.SENT, telegram_message_id=message_id)
        if row.topic_id is not None and self.threads is not None:
            await self.threads.delivered(row, result)
        for hook in self._on_delivered:
            try:
                await hook(row, result)
            except Exception:
                log.exception("Outbox delivery hook failed for call %s", row.id)
        return 1
