"""The persisted outbox: Bot API calls that must reach Telegram, whatever Telegram does meanwhile.

A call is written in the same transaction as what caused it (a visitor message, a handoff), then
delivered by OutboxWorker: retried with backoff on network errors and 5xx, after `retry_after` on 429,
one at a time per Telegram chat so a chat's messages keep their order, and picked up again after a
restart because the rows are the queue.

Each round the worker chooses what to send, it does not sleep on a busy chat: per Telegram chat the row
with the lowest priority value goes first (offers and answers before relays, relays before bulk) unless
it would overtake an earlier row about the same support chat; across chats the most urgent rows take the
bot's budget first; a chat whose bucket (support.pacing) is empty waits while the others go. Text relays
queued back to back for one manager leave as one Telegram message, and are marked sent together.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

import peewee

from core.db import PreparedInsert, PreparedQuery
from core.i18n import N_, translate
from models import Manager, Outbox, OutboxStatus, utcnow
from support.delivery import DeliveryWorker, backoff
from support.pacing import Pacer, paced_by_outbox

if TYPE_CHECKING:
    # aiogram is imported where a call is sent, not here: storing calls (enqueue) is what the widget does, and it
    # works while the Telegram side is still loading (aiogram's import is most of a cold start).
    from aiogram import Bot, methods
    from aiogram.exceptions import TelegramBadRequest

log = logging.getLogger(__name__)

# Every call stored (with each relayed message): the INSERT rendered once.
_NEW_CALL = PreparedInsert(Outbox, Outbox.chat_id, Outbox.method, Outbox.payload, Outbox.purpose, Outbox.priority,
                           Outbox.coalesce, Outbox.support_chat, Outbox.edits, Outbox.topic)

TELEGRAM_TEXT_LIMIT = 4096
# A merged message carries one row of buttons per client; Telegram takes up to 100 buttons a message.
MAX_MERGED_CLIENTS = 20


class Priority(IntEnum):
    """Who goes first for a chat and for the bot's budget; lower first."""

    URGENT = 0  # offers, accept/close updates, answers to a manager's button
    RELAY = 1  # what visitors and colleagues write
    BULK = 2  # daily summaries, charts, exports


@dataclass(frozen=True)
class Coalesce:
    """How a text relay reads inside a merged message: its header (client · chat), its escaped body, and
    the row of buttons that answers its client (keyboard rows of InlineKeyboardButton dicts)."""

    header: str
    body: str
    buttons: list[dict[str, Any]]


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
    priority: int = Priority.URGENT
    coalesce: Coalesce | None = None  # set on a text relay that may share a message with its neighbours
    tags: dict[str, Any] = field(default_factory=dict)


async def enqueue(calls: list[OutgoingCall]) -> list[Outbox]:
    """Store calls; call inside the transaction that stores their cause, then wake the worker."""
    rows = []
    for call in calls:
        rows.append(
            await _NEW_CALL.create(
                chat_id=call.chat_id,
                method=call.method,
                payload=json.dumps(call.params, ensure_ascii=False),
                purpose=call.purpose,
                priority=int(call.priority),
                coalesce=json.dumps(call.coalesce.__dict__, ensure_ascii=False) if call.coalesce else None,
                support_chat=call.support_chat_id,
                edits=call.edits_outbox_id,
                topic=call.topic_id,
            )
        )
    return rows


def _method_class(name: str) -> type[methods.TelegramMethod[Any]]:
    from aiogram import methods

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
# A call sent again after a restart says so in its text (edits repeat harmlessly and keep theirs).
REPEAT_MARKER = N_("(повтор)")  # in the recipient's language when they are a manager whose language is known
REPEATABLE_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "sendMessage": ("text",), "sendDocument": ("caption",), "sendPhoto": ("caption",),
}


def _heads_query(limit: int) -> peewee.Query:
    groups = (Outbox.select(peewee.fn.MIN(Outbox.id).alias("head"), peewee.fn.COUNT(Outbox.id).alias("queued"))
              .where(Outbox.status == OutboxStatus.PENDING)
              .group_by(Outbox.chat_id, Outbox.priority).alias("groups"))
    return (Outbox.select(Outbox, groups.c.queued).join(groups, on=(Outbox.id == groups.c.head))
            .order_by(Outbox.priority, Outbox.id).limit(limit))


# The worker's statements, rendered once (core.db.PreparedQuery): they run between a commit and the Bot API call.
_HEADS = PreparedQuery(Outbox, _heads_query)
_EARLIER_ABOUT_CHAT = PreparedQuery(Outbox, lambda chat_id, support_chat_id, before: Outbox.select().where(
    (Outbox.status == OutboxStatus.PENDING) & (Outbox.chat_id == chat_id)
    & (Outbox.support_chat == support_chat_id) & (Outbox.id < before)).order_by(Outbox.id).limit(1))
_QUEUED_BEHIND = PreparedQuery(Outbox, lambda chat_id, priority, after: Outbox.select().where(
    (Outbox.status == OutboxStatus.PENDING) & (Outbox.chat_id == chat_id) & (Outbox.priority == priority)
    & (Outbox.id > after)).order_by(Outbox.id).limit(100))
# One query per number of rows in flight (a merged message has several): the text depends on it.
_MARK_SENDING = PreparedQuery(Outbox, lambda *ids: Outbox.update(status=OutboxStatus.SENDING).where(
    Outbox.id.in_(list(ids)) & (Outbox.status == OutboxStatus.PENDING)))
# A row taken from memory (OutboxWorker._known) goes only if no earlier row of its chat is pending: one another
# process committed and announced (NOTIFY) after this one's wake-up, or anything else the table has and memory
# has not. The check is part of the update, so it costs no statement more.
_EARLIER = Outbox.alias("earlier")
_MARK_SENDING_FIRST = PreparedQuery(Outbox, lambda chat_id, head_id, *ids: Outbox.update(
    status=OutboxStatus.SENDING).where(
    Outbox.id.in_(list(ids)) & (Outbox.status == OutboxStatus.PENDING) & ~peewee.fn.EXISTS(
        _EARLIER.select(_EARLIER.id).where((_EARLIER.chat_id == chat_id) & (_EARLIER.status == OutboxStatus.PENDING)
                                           & (_EARLIER.id < head_id)))))
_UNMARK_SENDING = PreparedQuery(Outbox, lambda *ids: Outbox.update(status=OutboxStatus.PENDING).where(
    Outbox.id.in_(list(ids)) & (Outbox.status == OutboxStatus.SENDING)))
_BY_ID = PreparedQuery(Outbox, lambda row_id: Outbox.select().where(Outbox.id == row_id))
_IN_FLIGHT = PreparedQuery(Outbox, lambda: Outbox.select().where(
    Outbox.status == OutboxStatus.SENDING).order_by(Outbox.id))
_SEND_AGAIN = PreparedQuery(Outbox, lambda payload, row_id: Outbox.update(
    status=OutboxStatus.PENDING, payload=payload, last_error="maybe sent before a restart",
).where((Outbox.id == row_id) & (Outbox.status == OutboxStatus.SENDING)))


class OutboxWorker(DeliveryWorker):
    name = "outbox"
    model = Outbox
    destination = "chat_id"  # one queue per Telegram chat keeps a chat's messages in order

    def __init__(
        self, bot: Bot, *, files: FileSource | None = None, threads: Threads | None = None,
        pacer: Pacer | None = None, batch: int = 200,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        super().__init__(batch=batch, idle_poll_seconds=idle_poll_seconds)
        self.bot = bot
        self.files = files
        self.threads = threads
        self.pacer = pacer or Pacer(enabled=False)
        self._on_delivered: list[DeliveredHook] = []
        self._merged: dict[int, list[Outbox]] = {}  # head row id → the rows sent with it in one message
        self._unmergeable: set[int] = set()  # rows whose merged message Telegram refused: sent alone now
        # The queue in memory, when a round has shown it: `_known` while every pending row is one this process
        # committed since and handed to wake() (`_fresh`). The next round then takes its heads from there
        # instead of reading the table between the commit and the Bot API call. Anything else (a wake-up with no
        # rows: another process, a test, a job; the idle poll; a new sender's recovery; a row not sent in full)
        # makes the next round read the table again.
        self._known = False
        self._fresh: list[Outbox] = []
        self._from_memory: set[int] = set()  # this round's heads taken from `_fresh`, not read
        self._contradicted = False  # a row from memory did not go: the table had an earlier one (or not it)

    def on_delivered(self, hook: DeliveredHook) -> None:
        self._on_delivered.append(hook)

    def wake(self, rows: Sequence[Outbox] | None = None) -> None:
        if rows is None or not self._admitted():
            self._known = False
        else:
            for row in rows:  # the worker's own copies: it marks them sent, the committer may still read them
                copy = Outbox(__no_default__=1)
                copy.__data__.update(row.__data__)
                self._fresh.append(copy)
        super().wake(rows)

    def _may_have_more(self) -> bool:
        return not self._known

    def _polled(self) -> None:
        self._known = False

    async def deliver_due(self) -> tuple[int, float]:
        """One round: choose, per Telegram chat, the next row that may go now, send those, and say when
        the next one may. Returns (rows delivered, seconds until the next row is due)."""
        known, fresh = self._known, self._fresh
        # Until a wake-up with no rows says otherwise during this round, what is committed meanwhile is in
        # `_fresh`; whether the round leaves nothing else pending decides if the queue stays known.
        self._known, self._fresh = True, []
        heads = self._heads_of(fresh) if known else None
        self._from_memory = {row.id for row in heads or ()}
        self._contradicted = False
        try:
            delivered, next_due, drained = await self._round(heads)
        except BaseException:
            self._known = False
            raise
        finally:
            self._from_memory = set()
        if self._contradicted:
            next_due = 0.0  # the next round, which reads the table, at once
        if drained is not None and self._known:
            self._fresh = [row for row in self._fresh if row.id not in drained]
        else:
            self._known = False
        return delivered, next_due

    @staticmethod
    def _heads_of(rows: list[Outbox]) -> list[Outbox]:
        """What _heads reads from the table, from the rows themselves when they are all that is pending."""
        groups: dict[tuple[int, int], list[Outbox]] = {}
        for row in rows:
            groups.setdefault((row.chat_id, row.priority), []).append(row)
        heads = []
        for group in groups.values():
            head = min(group, key=lambda r: r.id)
            head.queued = len(group)  # type: ignore[attr-defined]  # as _heads's column of that name
            heads.append(head)
        return sorted(heads, key=lambda r: (r.priority, r.id))

    async def _round(self, known_heads: list[Outbox] | None) -> tuple[int, float, set[int] | None]:
        """deliver_due's round, from the heads given (the queue in memory) or read from the table. Also returns
        the ids sent when the round left no row pending that the heads showed (None when it may have)."""
        complete = known_heads is not None
        if known_heads is None:
            heads = await self._heads()
            complete = len(heads) < self.batch
        else:
            heads = known_heads
        # Taken after the read: a row stamped (next_attempt_at = its creation) just before the read is due now.
        # Taken before it, such a row looked 1 ms early and waited the 50 ms floor of next_due.
        now = utcnow()
        per_chat: dict[int, list[Outbox]] = {}
        for row in heads:
            per_chat.setdefault(row.chat_id, []).append(row)
        nexts = [await self._next_for_chat(rows) for rows in per_chat.values()]
        waits: list[float] = []
        chosen: list[Outbox] = []
        for row in sorted(nexts, key=lambda r: (r.priority, r.id)):
            if row.next_attempt_at > now:
                waits.append((row.next_attempt_at - now).total_seconds())
                continue
            wait = self.pacer.try_take(row.chat_id, row.method)
            if wait > 0.0:
                waits.append(wait)
                continue
            chosen.append(row)
        next_due = max(0.05, min(waits)) if waits else self.idle_poll_seconds
        if not chosen:
            return 0, next_due, set() if complete and not heads else None
        for row in chosen:
            followers = await self._mergeable_after(row)
            if followers:
                self._merged[row.id] = followers
        try:
            # One row (the usual case) is sent from this task: gather would wrap it in a task of its own and start
            # it a loop turn later, behind whatever else became ready meanwhile (the widget's frames).
            counts = ([await self._deliver(chosen[0])] if len(chosen) == 1
                      else await asyncio.gather(*(self._deliver(row) for row in chosen)))
            # Drained: every head went, each with all of its group (a merged message's followers are the rows
            # right behind it, so as many as were queued are those) and each sent in full.
            sizes = {row.id: 1 + len(self._merged.get(row.id, ())) for row in chosen}
            drained = complete and len(chosen) == len(heads) and all(
                count == sizes[row.id] >= getattr(row, "queued", sizes[row.id] + 1)
                for row, count in zip(chosen, counts, strict=True))
            sent = {part.id for row in chosen for part in [row, *self._merged.get(row.id, ())]}
            return sum(counts), next_due, sent if drained else None
        finally:
            for row in chosen:
                self._merged.pop(row.id, None)

    async def _heads(self) -> list[Outbox]:
        """The oldest pending row of each priority in each chat, found in SQL so that a long backlog in one
        chat does not hide the other chats' rows behind the LIMIT. Each head also says how many rows wait in
        its group (`queued`): a head alone has nothing to merge with, which spares a query per send."""
        return list(await _HEADS.rows(self.batch))

    async def _next_for_chat(self, heads: list[Outbox]) -> Outbox:
        """The most urgent head, unless that overtakes an earlier row about the same support chat (a close
        notice must not arrive before the visitor's last words): then that earlier row goes first."""
        first = min(heads, key=lambda r: (r.priority, r.id))
        # Every other head is the oldest row of its priority: when `first` is older than all of them, no row of
        # the chat is older than it (a lone head, the usual case, needs no query).
        if first.support_chat_id is None or all(first.id < other.id for other in heads if other is not first):
            return first
        earlier = await _EARLIER_ABOUT_CHAT.first(first.chat_id, first.support_chat_id, first.id)
        return earlier if earlier is not None else first

    async def _mergeable_after(self, head: Outbox) -> list[Outbox]:
        """The text relays queued right behind `head` for the same chat that fit one message with it."""
        if (not self.pacer.enabled or head.coalesce is None or head.id in self._unmergeable
                or head.edits_id is not None or getattr(head, "queued", None) == 1):
            return []
        rows = await _QUEUED_BEHIND.rows(head.chat_id, head.priority, head.id)
        now = utcnow()
        parts = [head]
        for row in rows:
            if (row.coalesce is None or row.id in self._unmergeable or row.next_attempt_at > now
                    or row.method != head.method or row.topic_id != head.topic_id):
                # A file, another topic or anything else ends the run: merging past it would reorder the chat.
                break
            trial = [*parts, row]
            clients = {part.support_chat_id for part in trial}
            if len(clients) > MAX_MERGED_CLIENTS or len(merged_text(trial)) > TELEGRAM_TEXT_LIMIT:
                break
            parts = trial
        return parts[1:]

    async def _retry(self, row: Any, delay: float, error: str) -> None:
        for part in [row, *self._merged.get(row.id, ())]:
            await super()._retry(part, delay, error)

    async def _finish(self, row: Any, status: str, *, error: str | None = None, **columns: Any) -> None:
        followers = self._merged.get(row.id, ())
        if followers and status == OutboxStatus.FAILED:
            # Telegram refused the merged message: send each part alone rather than lose any of them.
            log.error("Telegram refused merged outbox calls %s: %s; sending them one by one",
                      [row.id, *(part.id for part in followers)], error)
            self._unmergeable.update([row.id, *(part.id for part in followers)])
            for part in [row, *followers]:
                await super()._retry(part, 0.0, f"merged message refused: {error}")
            return
        for part in [row, *followers]:
            await super()._finish(part, status, error=error, **columns)

    def _params(self, row: Outbox) -> dict[str, Any]:
        followers = self._merged.get(row.id)
        if not followers:
            return dict(json.loads(row.payload))
        parts = [row, *followers]
        params = {key: value for key, value in json.loads(row.payload).items() if key != "reply_markup"}
        params["text"] = merged_text(parts)
        keyboard: list[list[dict[str, Any]]] = []
        for part in parts:
            buttons = json.loads(part.coalesce)["buttons"]
            if buttons not in keyboard:
                keyboard.append(buttons)
        params["reply_markup"] = {"inline_keyboard": keyboard}
        return params

    async def _recover(self) -> None:
        """Calls that were on their way when the last sender died may or may not have reached Telegram.
        Each is sent again, once, on its own (not merged) and with a visible marker, so a manager who sees it
        twice knows why."""
        self._known, self._fresh = False, []  # a new sender reads the table
        rows = await _IN_FLIGHT.rows()
        for row in rows:
            params = json.loads(row.payload)
            marker = translate(await _recipient_language(row.chat_id), REPEAT_MARKER)
            for key in REPEATABLE_TEXT_FIELDS.get(row.method, ()):
                current = params.get(key)
                if not (isinstance(current, str) and current.startswith(marker)):
                    params[key] = f"{marker} {current}" if current else marker
            self._unmergeable.add(row.id)
            log.warning("Outbox call %s (%s to %s) may have reached Telegram before the restart; sending it again "
                        "marked as a repeat", row.id, row.method, row.chat_id)
            await _SEND_AGAIN.execute(json.dumps(params, ensure_ascii=False), row.id)

    async def _deliver(self, row: Outbox) -> int:
        from aiogram.exceptions import (
            ClientDecodeError,
            TelegramAPIError,
            TelegramBadRequest,
            TelegramForbiddenError,
            TelegramNetworkError,
            TelegramRetryAfter,
            TelegramServerError,
        )

        paced_by_outbox.set(True)  # this task's own context: the row already took its share of the buckets
        params = self._params(row)
        if row.edits_id is not None:
            target = await _BY_ID.first(row.edits_id)
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
            # From here on Telegram may get the call even if we never hear back: see _recover.
            in_flight = [row.id, *(part.id for part in self._merged.get(row.id, ()))]
            marked = await (_MARK_SENDING_FIRST.execute(row.chat_id, row.id, *in_flight)
                            if row.id in self._from_memory else _MARK_SENDING.execute(*in_flight))
            if marked != len(in_flight):
                # Taken from memory, and the table says otherwise: an earlier row of the chat is pending, or these
                # are not. None is sent; the round did not empty the queue, so the next one reads the table.
                log.debug("Outbox calls %s wait: the queue is read again first", in_flight)
                self._contradicted = True
                self.pacer.give_back(row.chat_id, row.method)  # taken in this round's choice; nothing left
                if marked:
                    await _UNMARK_SENDING.execute(*in_flight)
                return 0
            result = await self.bot(call)
        except TelegramRetryAfter as exc:
            scope = self.pacer.pause(row.chat_id, float(exc.retry_after))
            await self._retry(row, float(exc.retry_after), f"429 retry after {exc.retry_after}s ({scope} paused)")
            return 0
        except ClientDecodeError as exc:
            # Not Telegram's JSON: a proxy's or load balancer's error page (an HTML 502). Transient, like a 5xx.
            await self._retry(row, backoff(row.attempts), f"Bot API answered something that is not JSON: "
                                                          f"{str(exc.data)[:200]!r}")
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
        parts = [row, *self._merged.get(row.id, ())]
        for part in parts:
            for hook in self._on_delivered:
                try:
                    await hook(part, result)
                except Exception:
                    log.exception("Outbox delivery hook failed for call %s", part.id)
        return len(parts)


def merged_text(parts: Sequence[Outbox]) -> str:
    """The parts in order, each headed by its client and chat when the header changes."""
    chunks: list[str] = []
    header = None
    for part in parts:
        piece = json.loads(part.coalesce)
        if piece["header"] != header:
            header = piece["header"]
            chunks.append(header)
        chunks.append(piece["body"])
    return "\n\n".join(chunks)


async def _recipient_language(chat_id: int | None) -> str | None:
    """The language a manager's Telegram reports (a private chat's id is the manager's Telegram id); None for a
    group or anyone else: the desk's default."""
    if chat_id is None:
        return None
    return await Manager.select(Manager.language_code).where(Manager.telegram_id == chat_id).aio_scalar()
