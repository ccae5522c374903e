"""A topic per conversation in each manager's private chat with the bot (Bot API 10.1 private-chat topics).

Owns a topic's life: created when a manager takes the chat (accept, transfer, joining as a colleague), named
after the client with a status marker kept current, opened by the chat's card that is edited in place, renamed
"✅ …" on close and deleted after the desk's delay. Calls meant for a topic carry its row id; the outbox asks
TopicDelivery for the thread when it sends them. A topic the manager deleted (or topics switched off) never
loses a message: a new topic is made when Telegram allows it, else the chat's messages go to the general
thread, and the manager is told once. With topics off (getMe's has_topics_enabled false) nothing here acts:
the desk works in flat mode, as it always did.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from core.db import PreparedQuery
from core.i18n import N_
from models import ChatStatus, ChatTopic, Manager, Outbox, SupportChat, TopicState, VisitorSession, utcnow
from support.contracts import ChatCard
from support.outbox import OutgoingCall
from support.store import Change, ChatStore

if TYPE_CHECKING:
    from aiogram.exceptions import TelegramBadRequest

log = logging.getLogger("support")

TOPIC_NAME_LIMIT = 128
TYPING_INTERVAL_SECONDS = 4.0
RECREATE_AT_MOST_EVERY_SECONDS = 60.0
# A manager can write in a topic the instant Telegram made it, before its thread id is stored (the outbox stores
# it right after createForumTopic answers): a thread not found yet is looked up again for this long.
THREAD_SETTLE_SECONDS = 3.0
THREAD_SETTLE_STEP = 0.1
# What Telegram answers when a call names a topic that no longer exists (or topic mode is off).
THREAD_GONE = ("message thread not found", "TOPIC_DELETED", "TOPIC_ID_INVALID", "TOPIC_CLOSED")
NOT_A_FORUM = "not a forum"
# Only messages go into a topic; offers and invitations come before the manager has the chat.
PLACEABLE_METHODS = {"sendMessage", "sendPhoto", "sendDocument", "sendContact"}
UNPLACED_PURPOSES = {"offer", "invitation", "handover", "topic_notice"}
PLACING_STATES = (TopicState.CREATING, TopicState.OPEN, TopicState.CLOSED)  # a topic a chat's message goes into

ChatActionSender = Callable[[int, int], Awaitable[Any]]  # (telegram chat id, thread id)
TopicCreator = Callable[[int, str], Awaitable[int]]  # (telegram chat id, name) → the new thread id
ModeProbe = Callable[[], Awaitable[bool]]  # getMe's has_topics_enabled


class Marker:
    """The status a topic's name starts with."""

    ACTIVE = "💬"  # the manager answered last
    WAITING = "⏳"  # the visitor wrote last: waiting for the manager's answer
    LATE = "⏰"  # waiting for an answer longer than the reminder threshold (followed by the minutes)
    CLOSED = "✅"
    HANDED_OVER = "↪️"  # the chat went to a colleague (this manager's topic rests)


@dataclass(frozen=True)
class TopicView:
    """What the topic's card says beyond the chat's own card."""

    owner: bool  # the chat's own manager (buttons to transfer, invite, close) or an invited colleague
    rating: int | None = None
    rating_comment: str | None = None
    handed_to: str | None = None


class TopicChannel(Protocol):
    """How topics look in Telegram; implemented by bot.topic_render.TelegramTopicChannel."""

    def create(self, telegram_id: int, name: str) -> OutgoingCall: ...

    def rename(self, telegram_id: int, name: str) -> OutgoingCall: ...

    def delete(self, telegram_id: int) -> OutgoingCall: ...

    def card(self, card: ChatCard, telegram_id: int, view: TopicView) -> OutgoingCall: ...

    def card_update(self, card: ChatCard, telegram_id: int, card_outbox_id: int, view: TopicView) -> OutgoingCall: ...

    def recreated(self, card: ChatCard, telegram_id: int) -> OutgoingCall: ...

    def went_flat(self, card: ChatCard, telegram_id: int) -> OutgoingCall: ...


# A chat's topics in some states, read with every relayed message both ways: each set of states rendered once.
_TOPICS_IN: dict[tuple[str, ...], PreparedQuery] = {}

GUEST = N_("Гость #{chat_id}")  # shown translated by bot.topic_render.display_name
_MARKER = re.compile(r"^(⏰ \d+ мин ·|💬|⏳|✅|↪️) ")


def marker_of(name: str) -> str:
    """The status marker a topic's name starts with (the waiting one when the name has none)."""
    found = _MARKER.match(name)
    return found.group(1) if found else Marker.WAITING


def topic_name(card: ChatCard, marker: str) -> str:
    client = card.client_name or GUEST.format(chat_id=card.chat_id)
    name = f"{marker} {client}"
    return name if len(name) <= TOPIC_NAME_LIMIT else name[: TOPIC_NAME_LIMIT - 1] + "…"


def _placeable(call: OutgoingCall) -> bool:
    return (call.topic_id is None and call.support_chat_id is not None and call.method in PLACEABLE_METHODS
            and call.purpose not in UNPLACED_PURPOSES)


class Topics:
    def __init__(
        self, store: ChatStore, channel: TopicChannel | None = None, *, delete_after_days: int = 0,
        create_now: TopicCreator | None = None, chat_action: ChatActionSender | None = None,
        probe: ModeProbe | None = None, typing_interval: float = TYPING_INTERVAL_SECONDS,
    ) -> None:
        self.store = store
        self.channel = channel
        self.delete_after_days = delete_after_days
        self.create_now = create_now
        self.chat_action = chat_action
        self.probe = probe
        self.typing_interval = typing_interval
        self.enabled = False  # the bot's topic mode, read from getMe at start and by refresh_mode()
        self._typing: dict[int, float] = {}
        self._recreated: dict[int, float] = {}

    @property
    def active(self) -> bool:
        return self.enabled and self.channel is not None

    async def refresh_mode(self) -> bool:
        """Ask Telegram (getMe) whether the bot runs topics in private chats; flat mode when it does not."""
        if self.probe is None:
            return self.enabled
        try:
            enabled = await self.probe()
        except Exception as exc:  # Telegram unreachable: keep what we knew
            log.warning("Could not read the bot's topic mode: %s", exc)
            return self.enabled
        if enabled != self.enabled:
            log.info("Topics in managers' chats: %s", "on" if enabled else "off (flat mode)")
        self.enabled = enabled
        return enabled

    # --- placing calls ------------------------------------------------------------------------------

    async def place(self, calls: list[OutgoingCall]) -> list[OutgoingCall]:
        """A chat's message to a manager who has the chat's topic goes into that topic."""
        placed = []
        for call in calls:
            if _placeable(call):
                topic = await ChatTopic.aio_get_or_none(
                    (ChatTopic.support_chat == call.support_chat_id) & (ChatTopic.telegram_chat_id == call.chat_id)
                    & ChatTopic.state.in_(PLACING_STATES))
                if topic is not None:
                    call = dataclasses.replace(call, topic_id=topic.id)
            placed.append(call)
        return placed

    async def of_chat(self, chat: SupportChat) -> list[ChatTopic]:
        """The chat's topics a message may go into (read once for a change that both places and marks)."""
        return await self._of(chat, *PLACING_STATES)

    @staticmethod
    def placed_in(topics: Sequence[ChatTopic], calls: list[OutgoingCall]) -> list[OutgoingCall]:
        """place() with the chat's topics already read (of_chat, in the same change)."""
        placed = []
        for call in calls:
            if _placeable(call):
                topic = next((t for t in topics if t.support_chat_id == call.support_chat_id
                              and t.telegram_chat_id == call.chat_id and t.state in PLACING_STATES), None)
                if topic is not None:
                    call = dataclasses.replace(call, topic_id=topic.id)
            placed.append(call)
        return placed

    # --- the topic's life (called inside the lifecycle's changes) -----------------------------------

    async def open(self, change: Change, chat: SupportChat, manager: Manager) -> None:
        """The manager now works on the chat: a topic in their chat with the bot, its card first."""
        if not self.active:
            return
        assert self.channel is not None
        card = await self.store.card(chat)
        name = topic_name(card, Marker.WAITING)
        topic = await ChatTopic.aio_get_or_none((ChatTopic.support_chat == chat.id) & (ChatTopic.manager == manager.id))
        calls: list[OutgoingCall] = []
        if topic is not None and topic.state in (TopicState.CREATING, TopicState.OPEN):
            return
        if topic is not None and topic.state == TopicState.CLOSED and topic.thread_id is not None:
            # Handed back to a manager who had it: their resting topic wakes up.
            topic.state, topic.delete_after = TopicState.OPEN, None
            if topic.name != name:
                calls.append(self.channel.rename(manager.telegram_id, name))
        else:
            if topic is None:
                topic = await ChatTopic.aio_create(support_chat=chat.id, manager=manager.id,
                                                   telegram_chat_id=manager.telegram_id, name=name)
            topic.state, topic.thread_id, topic.delete_after, topic.warned_flat = (
                TopicState.CREATING, None, None, False)
            calls.append(self.channel.create(manager.telegram_id, name))
        topic.name = name
        view = TopicView(owner=chat.manager_id == manager.id)
        calls.append(self.channel.card(card, manager.telegram_id, view))
        rows = await change.send([dataclasses.replace(call, topic_id=topic.id) for call in calls])
        topic.card = rows[-1].id
        await topic.aio_save()

    async def mark(self, change: Change, chat: SupportChat, marker: str, *, card: ChatCard | None = None,
                   topics: Sequence[ChatTopic] | None = None) -> None:
        """The chat's status marker in its topics' names (renamed only when it changes). `card` (its name part)
        and `topics` (of_chat) when the caller read them in the same change."""
        if self.channel is None:
            return
        live = ([t for t in topics if t.state in (TopicState.CREATING, TopicState.OPEN)] if topics is not None
                else await self._of(chat, TopicState.CREATING, TopicState.OPEN))
        for topic in live:
            card = card or await self.store.card(chat)
            await self._rename(change, topic, topic_name(card, marker))

    async def client_named(self, change: Change, chat: SupportChat) -> None:
        """The visitor gave their name after the topics were named ("Гость #N"): names and cards follow, each
        topic keeping its status marker."""
        if self.channel is None:
            return
        card: ChatCard | None = None
        for topic in await self._of(chat, TopicState.CREATING, TopicState.OPEN, TopicState.CLOSED):
            card = card or await self.store.card(chat)
            await self._rename(change, topic, topic_name(card, marker_of(topic.name)))
        if card is not None:
            await self.refresh_cards(change, chat)

    async def handed_over(self, change: Change, chat: SupportChat, previous: Manager, target: Manager) -> None:
        """A transfer: the previous manager's topic rests (its card says to whom), the new one gets a topic."""
        if self.channel is not None:
            topic = await ChatTopic.aio_get_or_none(
                (ChatTopic.support_chat == chat.id) & (ChatTopic.manager == previous.id))
            if topic is not None and topic.state in (TopicState.CREATING, TopicState.OPEN):
                card = await self.store.card(chat)
                await self._rest(change, topic, card, Marker.HANDED_OVER,
                                 TopicView(owner=False, handed_to=target.display_name))
        await self.open(change, chat, target)

    async def left(self, change: Change, chat: SupportChat, manager: Manager) -> None:
        """An invited colleague stepped out: their topic rests."""
        topic = await ChatTopic.aio_get_or_none((ChatTopic.support_chat == chat.id) & (ChatTopic.manager == manager.id))
        if self.channel is not None and topic is not None and topic.state in (TopicState.CREATING, TopicState.OPEN):
            await self._rest(change, topic, await self.store.card(chat), Marker.HANDED_OVER, TopicView(owner=False))

    async def closed(self, change: Change, chat: SupportChat) -> None:
        """The chat ended: every topic of it is renamed "✅ …", its card says so, and deletion is scheduled."""
        if self.channel is None:
            return
        card = await self.store.card(chat)
        for topic in await self._of(chat, TopicState.CREATING, TopicState.OPEN):
            await self._rest(change, topic, card, Marker.CLOSED, self._view(chat, topic))

    async def refresh_cards(self, change: Change, chat: SupportChat) -> None:
        """The chat changed (a rating, a colleague): its topics' cards are edited in place."""
        if self.channel is None:
            return
        card = await self.store.card(chat)
        for topic in await self._of(chat, TopicState.OPEN, TopicState.CLOSED):
            if topic.card_id is not None:
                await change.send([dataclasses.replace(
                    self.channel.card_update(card, topic.telegram_chat_id, topic.card_id, self._view(chat, topic)),
                    topic_id=topic.id)])

    async def _rest(self, change: Change, topic: ChatTopic, card: ChatCard, marker: str, view: TopicView) -> None:
        assert self.channel is not None
        topic.state = TopicState.CLOSED
        if self.delete_after_days > 0:
            topic.delete_after = utcnow() + dt.timedelta(days=self.delete_after_days)
        await self._rename(change, topic, topic_name(card, marker))
        if topic.card_id is not None:
            await change.send([dataclasses.replace(
                self.channel.card_update(card, topic.telegram_chat_id, topic.card_id, view), topic_id=topic.id)])
        await topic.aio_save()

    async def _rename(self, change: Change, topic: ChatTopic, name: str) -> None:
        assert self.channel is not None
        if name == topic.name:
            return
        await change.send([dataclasses.replace(self.channel.rename(topic.telegram_chat_id, name), topic_id=topic.id)])
        await ChatTopic.update(name=name).where(ChatTopic.id == topic.id).aio_execute()
        topic.name = name

    @staticmethod
    def _view(chat: SupportChat, topic: ChatTopic) -> TopicView:
        return TopicView(owner=chat.manager_id == topic.manager_id, rating=chat.rating,
                         rating_comment=chat.rating_comment)

    @staticmethod
    async def _of(chat: SupportChat, *states: str) -> list[ChatTopic]:
        query = _TOPICS_IN.get(states)
        if query is None:
            query = _TOPICS_IN[states] = PreparedQuery(ChatTopic, lambda chat_id: ChatTopic.select().where(
                (ChatTopic.support_chat == chat_id) & ChatTopic.state.in_(states)).order_by(ChatTopic.id))
        return await query.rows(chat.id)  # type: ignore[no-any-return]

    # --- reading ------------------------------------------------------------------------------------

    async def chat_for_thread(
        self, manager: Manager, thread_id: int, *, settle: float = THREAD_SETTLE_SECONDS
    ) -> int | None:
        """The support chat a thread of this manager's private chat belongs to. While one of their topics is
        still being made, an unknown thread may be that one (its id not stored yet): asked again for `settle` s."""
        deadline = time.monotonic() + settle
        while True:
            topic = await ChatTopic.aio_get_or_none(
                (ChatTopic.telegram_chat_id == manager.telegram_id) & (ChatTopic.thread_id == thread_id))
            if topic is not None:
                return int(topic.support_chat_id)
            creating = await ChatTopic.select().where(
                (ChatTopic.telegram_chat_id == manager.telegram_id) & (ChatTopic.state == TopicState.CREATING)
            ).aio_exists()
            if not creating or time.monotonic() >= deadline:
                return None
            await asyncio.sleep(THREAD_SETTLE_STEP)

    async def thread_of(self, chat_id: int, manager: Manager) -> int | None:
        """The live topic of the chat in this manager's private chat, if any."""
        topic = await ChatTopic.aio_get_or_none(
            (ChatTopic.support_chat == chat_id) & (ChatTopic.manager == manager.id)
            & (ChatTopic.state == TopicState.OPEN))
        return int(topic.thread_id) if topic is not None and topic.thread_id is not None else None

    # --- the visitor typing -------------------------------------------------------------------------

    async def visitor_typing(self, session: VisitorSession) -> bool:
        """"печатает…" in the chat's topics, at most once per typing_interval per chat (Telegram shows it ~5 s)."""
        if not self.enabled or self.chat_action is None:
            return False
        chat = await self.store.open_chat_of(session)
        if chat is None or chat.status != ChatStatus.ASSIGNED:
            return False
        now = time.monotonic()
        last = self._typing.get(chat.id)
        if last is not None and now - last < self.typing_interval:
            return False
        live = [topic for topic in await self._of(chat, TopicState.OPEN) if topic.thread_id is not None]
        if not live:
            return False
        self._typing[chat.id] = now
        from aiogram.exceptions import TelegramAPIError  # chat_action is wired only once aiogram is loaded

        for topic in live:
            try:
                await self.chat_action(topic.telegram_chat_id, int(topic.thread_id))
            except TelegramAPIError as exc:  # a hint only: a gone topic is found out by the next real message
                log.info("Typing hint for chat %s not shown: %s", chat.id, exc)
        return True

    # --- a topic that is gone -----------------------------------------------------------------------

    async def thread_lost(self, topic: ChatTopic) -> None:
        """Telegram says the topic is gone: a new one when Telegram allows, else the general thread; told once."""
        chat = await self.store.chat(topic.support_chat_id)
        card = await self.store.card(chat)
        assert self.channel is not None
        thread_id = None
        from aiogram.exceptions import TelegramAPIError  # Telegram said so: the bot side is loaded

        recently = time.monotonic() - self._recreated.get(topic.id, -1e9) < RECREATE_AT_MOST_EVERY_SECONDS
        if self.enabled and self.create_now is not None and chat.status == ChatStatus.ASSIGNED and not recently:
            try:
                thread_id = await self.create_now(topic.telegram_chat_id, topic.name)
            except TelegramAPIError as exc:
                log.info("No new topic for chat %s in %s: %s", chat.id, topic.telegram_chat_id, exc)
        async with self.store.change() as change:
            if thread_id is not None:
                self._recreated[topic.id] = time.monotonic()
                await ChatTopic.update(thread_id=thread_id, state=TopicState.OPEN).where(
                    ChatTopic.id == topic.id).aio_execute()
                view = self._view(chat, topic)
                rows = await change.send([dataclasses.replace(call, topic_id=topic.id) for call in (
                    self.channel.card(card, topic.telegram_chat_id, view),
                    self.channel.recreated(card, topic.telegram_chat_id))])
                await ChatTopic.update(card=rows[0].id).where(ChatTopic.id == topic.id).aio_execute()
                log.warning("Topic of chat %s in %s was gone; a new one was made", chat.id, topic.telegram_chat_id)
                return
            warn = not topic.warned_flat and chat.status != ChatStatus.CLOSED
            await ChatTopic.update(state=TopicState.FLAT, warned_flat=True).where(
                ChatTopic.id == topic.id).aio_execute()
            if warn:
                await change.send([self.channel.went_flat(card, topic.telegram_chat_id)])
            log.warning("Topic of chat %s in %s is gone: its messages go to the general thread",
                        chat.id, topic.telegram_chat_id)

    # --- the scheduled job ----------------------------------------------------------------------------

    async def delete_due(self) -> int:
        """Closed topics whose time is up (topic_delete_after_days) are deleted from the managers' chats."""
        if self.channel is None:
            return 0
        due = await ChatTopic.select().where(
            (ChatTopic.state == TopicState.CLOSED) & ChatTopic.delete_after.is_null(False)
            & (ChatTopic.delete_after <= utcnow())).aio_execute()
        for topic in due:
            async with self.store.change() as change:
                marked = await ChatTopic.update(state=TopicState.DELETED).where(
                    (ChatTopic.id == topic.id) & (ChatTopic.state == TopicState.CLOSED)).aio_execute()
                if marked:
                    await change.send([dataclasses.replace(self.channel.delete(topic.telegram_chat_id),
                                                           topic_id=topic.id)])
        return len(due)


# What the outbox reads to send a topic call, rendered once (core.db.PreparedQuery): it runs before every such call.
_TOPIC_BY_ID = PreparedQuery(ChatTopic, lambda topic_id: ChatTopic.select().where(ChatTopic.id == topic_id))
_OUTBOX_BY_ID = PreparedQuery(Outbox, lambda row_id: Outbox.select().where(Outbox.id == row_id))


class TopicDelivery:
    """support.outbox.Threads: the thread a topic call goes to when the outbox sends it."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    async def prepare(self, row: Outbox, params: dict[str, Any]) -> dict[str, Any] | None:
        topic = await _TOPIC_BY_ID.first(row.topic_id)
        method = row.method
        if method == "createForumTopic":
            return params if topic is not None and topic.state == TopicState.CREATING else None
        live = topic is not None and topic.thread_id is not None and topic.state in (TopicState.OPEN,
                                                                                      TopicState.CLOSED)
        if method in ("editForumTopic", "deleteForumTopic"):
            if topic is None or topic.thread_id is None or topic.state == TopicState.FLAT:
                return None
            return {**params, "message_thread_id": topic.thread_id}
        if method == "editMessageText":
            if not live:
                return None  # the card is in the topic; gone with it
            assert topic is not None
            if row.purpose == "topic_card_update" and topic.card_id is not None and row.edits_id != topic.card_id:
                return await self._current_card(topic, params)
            return params
        if live:
            assert topic is not None
            return {**params, "message_thread_id": topic.thread_id}
        if row.purpose == "topic_card":
            return None  # a card for a topic that never came: the general thread has its own
        params.pop("message_thread_id", None)
        return params  # flat mode: the general thread, as without topics

    @staticmethod
    async def _current_card(topic: ChatTopic, params: dict[str, Any]) -> dict[str, Any] | None:
        """An edit queued for the card of a topic that was re-created since: the old card went with the old
        topic, so the edit goes to the current card. If that card is not sent yet, it is sent with the chat as
        it is now, so the edit has nothing to add."""
        current = await _OUTBOX_BY_ID.first(topic.card_id)
        if current is None or current.telegram_message_id is None:
            return None
        return {**params, "message_id": current.telegram_message_id}

    async def delivered(self, row: Outbox, result: Any) -> None:
        if row.method == "createForumTopic":
            await ChatTopic.update(thread_id=result.message_thread_id, state=TopicState.OPEN).where(
                (ChatTopic.id == row.topic_id) & (ChatTopic.state == TopicState.CREATING)).aio_execute()

    async def refused(self, row: Outbox, error: TelegramBadRequest) -> bool:
        topic = await ChatTopic.aio_get_or_none(ChatTopic.id == row.topic_id)
        if topic is None:
            return False
        if row.method == "createForumTopic":
            if NOT_A_FORUM in error.message:
                # Topics are off in this manager's chat: their chats stay in the general thread, as before.
                await ChatTopic.update(state=TopicState.FLAT, warned_flat=True).where(
                    ChatTopic.id == topic.id).aio_execute()
            return False
        if not any(sign in error.message for sign in THREAD_GONE):
            return False
        if row.method == "deleteForumTopic":
            await ChatTopic.update(state=TopicState.DELETED).where(ChatTopic.id == topic.id).aio_execute()
            return False
        if topic.state not in (TopicState.FLAT, TopicState.DELETED):
            await self.topics.thread_lost(topic)
        return True
