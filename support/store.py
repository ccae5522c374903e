"""What every use case of the chat service reads and writes through: chats, their cards, system messages, and
`change()`, the one way to write something that others must hear about.

`change()` opens a transaction and collects what it sets off: widget wake-ups, Telegram outbox calls,
webhook events. The rows are written inside the transaction; the wake-ups fire only after it commits, so a
listener never re-reads before the row is there and a rolled-back change wakes nobody.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import peewee
import peewee_async

from core.config import SupportSettings
from core.db import PreparedInsert, PreparedQuery, transaction
from models import (
    ChatMessage,
    ChatParticipant,
    ChatStatus,
    Manager,
    Outbox,
    Sender,
    SupportChat,
    VisitorSession,
    utcnow,
)
from support.attachments import AttachmentRejected, AttachmentStore
from support.context import visitor_context
from support.contracts import ChatCard, ChatNotFound, ManagerChannel
from support.delivery import DeliveryWorker
from support.events import EventHub, iso
from support.exchanges import recent_exchanges
from support.integrations import IntegrationSink
from support.outbox import OutgoingCall, enqueue

NOTIFICATION_EXCHANGES = 3  # question → answer pairs in the new-chat card


class TopicPlacement(Protocol):
    async def place(self, calls: list[OutgoingCall]) -> list[OutgoingCall]: ...

    def placed_in(self, topics: Sequence[Any], calls: list[OutgoingCall]) -> list[OutgoingCall]: ...


# A chat by id: read by every manager's action on it (Lifecycle.own_chat), rendered once.
_CHAT = PreparedQuery(SupportChat, lambda chat_id: SupportChat.select().where(SupportChat.id == chat_id))
# Asked with every visitor message and AI answer: the same select each time, rendered once.
_OPEN_CHAT_OF = PreparedQuery(SupportChat, lambda key: SupportChat.open_of(key))

# A visitor's, the AI's and system messages: written with nearly every change, rendered once.
# previous_event_id is read back so that the row can reach this process's sockets from memory (support.notify).
_NEW_MESSAGE = PreparedInsert(ChatMessage, ChatMessage.session, ChatMessage.support_chat, ChatMessage.sender,
                              ChatMessage.text, ChatMessage.client_message_id, ChatMessage.meta,
                              returning=(ChatMessage.previous_event_id,))
# A visitor's message joins the chat open when it is written, found by the insert itself.
_NEW_MESSAGE_IN_OPEN_CHAT = PreparedInsert(
    ChatMessage, ChatMessage.session, ChatMessage.sender, ChatMessage.text, ChatMessage.client_message_id,
    ChatMessage.meta,
    computed={ChatMessage.support_chat: lambda values: SupportChat.open_of(values[ChatMessage.session],
                                                                          SupportChat.id)},
    returning=(ChatMessage.support_chat, ChatMessage.previous_event_id))

# The visitor wrote in their chat: its activity, its idle warning cleared, and the row read back (UPDATE …
# RETURNING), once per visitor message: rendered once.
_VISITOR_WROTE = PreparedQuery(SupportChat, lambda chat_id, now: SupportChat.update(
    last_activity_at=now, idle_warned_at=None).where(SupportChat.id == chat_id).returning(SupportChat))

# A chat's own manager and its invited colleagues, read with every relayed message both ways: rendered once.
_TEAM = PreparedQuery(Manager, lambda chat_id, manager_id: Manager.select(
    Manager, ChatParticipant.id.alias("participant_id"), ChatParticipant.joined_at.alias("joined_at")).join(
    ChatParticipant, peewee.JOIN.LEFT_OUTER,
    on=(ChatParticipant.manager == Manager.id) & (ChatParticipant.support_chat == chat_id),
).where((Manager.id == manager_id) | ChatParticipant.id.is_null(False)))
NO_MANAGER = 0  # a chat without a manager: no manager has this id, so the team is its colleagues alone


def _question_and_answer(session: Any, question: Any, client_message_id: Any, answer: Any, answer_meta: Any,
                         now: Any) -> peewee.Insert:
    """A visitor's question and the AI's answer to it, two rows of one INSERT, both in the visitor's open support
    chat if they have one (found by the insert itself, as for a question alone)."""
    open_chat = SupportChat.open_of(session, SupportChat.id)
    return ChatMessage.insert_many([
        {ChatMessage.session: session, ChatMessage.support_chat: open_chat, ChatMessage.sender: Sender.USER,
         ChatMessage.text: question, ChatMessage.client_message_id: client_message_id, ChatMessage.meta: None,
         ChatMessage.created_at: now},
        {ChatMessage.session: session, ChatMessage.support_chat: open_chat, ChatMessage.sender: Sender.AI,
         ChatMessage.text: answer, ChatMessage.client_message_id: None, ChatMessage.meta: answer_meta,
         ChatMessage.created_at: now},
    ]).returning(ChatMessage.id, ChatMessage.sender, ChatMessage.support_chat, ChatMessage.previous_event_id)


# Rendered once per shape: a question the widget numbered (client_message_id), and one it did not.
_QUESTION_AND_ANSWER = {
    True: PreparedQuery(ChatMessage, _question_and_answer),
    False: PreparedQuery(ChatMessage, lambda session, question, answer, answer_meta, now: _question_and_answer(
        session, question, None, answer, answer_meta, now)),
}
_WITHDRAWN = PreparedQuery(ChatMessage, lambda message_id: ChatMessage.delete().where(ChatMessage.id == message_id))

_current: contextvars.ContextVar[Change | None] = contextvars.ContextVar("support_change", default=None)


class Change:
    """One committed-together change and what it sets off once committed."""

    def __init__(self, store: ChatStore) -> None:
        self._store = store
        self._sessions: set[int] = set()
        self._stored: dict[int, list[ChatMessage]] = {}
        self._outbox: list[Outbox] = []
        self._webhooks = False
        self.finished = False

    def wake(self, session_pk: int) -> None:
        """The widget of this visitor has new stored events to read."""
        self._sessions.add(session_pk)

    def stored(self, session_pk: int, message: ChatMessage) -> None:
        """A new row for this visitor's widget: once committed, its event goes to this process's listeners from
        memory (a wake for the same session in the same change makes them re-read instead)."""
        self._stored.setdefault(session_pk, []).append(message)

    async def message(self, session_pk: int, chat_id: int | None, sender: str, text: str, *,
                      meta: str | None = None, client_message_id: str | None = None) -> ChatMessage:
        """A new row of the visitor's conversation, on their widget once committed."""
        message: ChatMessage = await _NEW_MESSAGE.create(
            session=session_pk, support_chat=chat_id, sender=sender, text=text, client_message_id=client_message_id,
            meta=meta)
        self.stored(session_pk, message)
        return message

    async def message_in_open_chat(self, session_pk: int, sender: str, text: str, *, meta: str | None = None,
                                   client_message_id: str | None = None) -> ChatMessage:
        """A new row in the visitor's open support chat if they have one (its support_chat_id says which), read
        by the insert itself: no chat opened or closed in between can be missed."""
        message: ChatMessage = await _NEW_MESSAGE_IN_OPEN_CHAT.create(
            session=session_pk, sender=sender, text=text, client_message_id=client_message_id, meta=meta)
        self.stored(session_pk, message)
        return message

    async def question_and_answer(self, session_pk: int, question: str, answer: str, answer_meta: str, *,
                                  client_message_id: str | None) -> tuple[ChatMessage, ChatMessage]:
        """The visitor's question (as message_in_open_chat) and the AI's answer worked out before the write, in
        one statement. The question is on the widget once committed; the answer only once the caller knows the
        chat lets the AI answer: `stored()` it then, else `withdraw()` it."""
        now = utcnow()
        if client_message_id is None:
            rows = await _QUESTION_AND_ANSWER[False].tuples(session_pk, question, answer, answer_meta, now)
        else:
            rows = await _QUESTION_AND_ANSWER[True].tuples(session_pk, question, client_message_id, answer,
                                                           answer_meta, now)
        # Told apart by sender, not by position: RETURNING promises no order.
        returned = {sender: (row_id, chat_id, previous) for row_id, sender, chat_id, previous in rows}
        (question_id, chat_id, question_previous), (answer_id, _, answer_previous) = (
            returned[Sender.USER], returned[Sender.AI])
        asked = ChatMessage(id=question_id, session=session_pk, support_chat=chat_id, sender=Sender.USER,
                            text=question, client_message_id=client_message_id, meta=None, created_at=now,
                            previous_event_id=question_previous)
        answered = ChatMessage(id=answer_id, session=session_pk, support_chat=chat_id, sender=Sender.AI,
                               text=answer, meta=answer_meta, created_at=now, previous_event_id=answer_previous)
        self.stored(session_pk, asked)
        return asked, answered

    async def withdraw(self, message: ChatMessage) -> None:
        """A row written in this change that must not be (the answer of question_and_answer in a chat where the
        AI may not answer): deleted before anyone can see it."""
        await _WITHDRAWN.execute(message.id)

    async def send(self, calls: Sequence[OutgoingCall], *, topics: Sequence[Any] | None = None) -> list[Outbox]:
        """Bot API calls, stored now, delivered by the outbox worker after commit. A chat's message to a manager
        who has the chat's topic goes into that topic (support.topics); `topics`: the chat's topics when the
        caller read them in this change (Topics.of_chat), so they are not read again."""
        if not calls:
            return []
        placed = list(calls)
        if self._store.topics is not None:
            placed = (self._store.topics.placed_in(topics, placed) if topics is not None
                      else await self._store.topics.place(placed))
        rows = await enqueue(placed)
        self._outbox.extend(rows)
        return rows

    async def emit(self, event: str, chat_id: int, **extra: Any) -> None:
        """An event for external systems (see support/integrations.py), stored with the transition."""
        if self._store.integrations.active:
            await self._store.integrations.emit(event, {"chat": await self._store.snapshot(chat_id), **extra})
            self._webhooks = True

    async def system_message(
        self, session: VisitorSession, chat: SupportChat | None, text: str, meta: dict[str, Any] | None = None
    ) -> ChatMessage:
        return await self.message(session.id, chat.id if chat else None, Sender.SYSTEM, text,
                                  meta=json.dumps(meta, ensure_ascii=False) if meta else None)

    def _fire(self) -> None:
        self.finished = True
        # The outbox first: its sender then gets the loop before the widget listeners' tasks.
        if self._outbox and self._store.outbox_worker is not None:
            self._store.outbox_worker.wake(self._outbox)  # the rows themselves: the worker need not read them
        hub = self._store.hub
        for session_pk in self._sessions:
            hub.wake(session_pk)
        for session_pk, messages in self._stored.items():
            if session_pk not in self._sessions:
                hub.publish_stored(session_pk, messages)
        if self._webhooks:
            self._store.integrations.committed()
            if self._store.integration_worker is not None:
                self._store.integration_worker.wake()


class ChatStore:
    def __init__(
        self,
        db: peewee_async.AioDatabase,
        *,
        hub: EventHub,
        channel: ManagerChannel,
        policy: SupportSettings,
        admin_ids: Sequence[int] = (),
        outbox_worker: DeliveryWorker | None = None,
        integrations: IntegrationSink | None = None,
        integration_worker: DeliveryWorker | None = None,
        attachments: AttachmentStore | None = None,
    ) -> None:
        self.db = db
        self.hub = hub
        self.channel = channel
        self.policy = policy
        self.admin_ids = tuple(admin_ids)
        self.outbox_worker = outbox_worker
        self.integrations = integrations or IntegrationSink()
        self.integration_worker = integration_worker
        self.attachments = attachments
        # Run inside the closing transaction of every chat (e.g. queueing the admins' transcript email).
        self.close_hooks: list[Callable[[SupportChat], Awaitable[None]]] = []
        # Set by support.topics.Topics: puts a chat's messages into the manager's topic for it.
        self.topics: TopicPlacement | None = None

    @contextlib.asynccontextmanager
    async def change(self) -> AsyncIterator[Change]:
        """A transaction whose effects fire after it commits; a change inside another joins the outer one."""
        outer = _current.get()
        if outer is not None and not outer.finished:
            async with transaction(self.db):
                yield outer
            return
        change = Change(self)
        token = _current.set(change)
        try:
            async with transaction(self.db):
                yield change
        finally:
            _current.reset(token)
        change._fire()

    # --- reading ------------------------------------------------------------------------------------

    async def chat(self, chat_id: int) -> SupportChat:
        chat = await _CHAT.first(chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        return chat

    async def touched(self, chat_id: int, now: dt.datetime) -> SupportChat:
        """The visitor wrote in the chat: its last activity is now and its idle warning void; the row is read
        back in the same statement (UPDATE … RETURNING)."""
        chat = await _VISITOR_WROTE.first(chat_id, now)
        if chat is None:
            raise ChatNotFound(chat_id)
        return chat  # type: ignore[no-any-return]

    async def session_of(self, chat: SupportChat) -> VisitorSession:
        return await VisitorSession.aio_get(VisitorSession.id == chat.session_id)

    async def open_chat_of(self, session: VisitorSession) -> SupportChat | None:
        return await _OPEN_CHAT_OF.first(session.id)  # type: ignore[no-any-return]

    async def joined(self, chat: SupportChat, manager: Manager) -> bool:
        return bool(await ChatParticipant.select().where(
            (ChatParticipant.support_chat == chat.id) & (ChatParticipant.manager == manager.id)).aio_exists())

    async def answered_since(self, chat_id: int, message_id: int) -> bool:
        """A manager wrote in the chat after that message."""
        return bool(await ChatMessage.select(ChatMessage.id).where(
            (ChatMessage.support_chat == chat_id) & (ChatMessage.sender == Sender.MANAGER)
            & (ChatMessage.id > message_id)).aio_exists())

    async def works_on(self, chat: SupportChat, manager: Manager) -> bool:
        """The chat is the manager's own or they were invited into it (support.lifecycle.participates in SQL)."""
        return chat.manager_id == manager.id or await self.joined(chat, manager)

    async def colleagues_in(self, chat: SupportChat) -> list[Manager]:
        """The managers invited into the chat (not its own manager)."""
        return list(await Manager.select().join(ChatParticipant).where(
            ChatParticipant.support_chat == chat.id).order_by(ChatParticipant.joined_at).aio_execute())

    async def team(self, chat: SupportChat) -> tuple[Manager | None, list[Manager]]:
        """The chat's own manager and the colleagues invited into it (as colleagues_in), in one read."""
        rows = await _TEAM.rows(chat.id, chat.manager_id or NO_MANAGER)
        owner = next((row for row in rows if row.id == chat.manager_id), None)
        # The aliases come as the driver gives them (SQLite: text): joined_at is converted to order by it.
        joined = ChatParticipant.joined_at.python_value
        colleagues = sorted((row for row in rows if row.participant_id is not None),
                            key=lambda row: (joined(row.joined_at), row.participant_id))
        return owner, colleagues

    async def admin_telegram_ids(self) -> list[int]:
        admins = await Manager.select(Manager.telegram_id).where(
            (Manager.is_admin == True) & (Manager.is_active == True)  # noqa: E712
        ).aio_execute()
        return sorted({*self.admin_ids, *(m.telegram_id for m in admins)})

    async def online_managers(self) -> list[Manager]:
        return list(await Manager.select().where(
            (Manager.is_online == True) & (Manager.is_active == True)  # noqa: E712
        ).aio_execute())

    async def has_offer(self, chat: SupportChat, manager: Manager) -> bool:
        return bool(await Outbox.select().where(
            (Outbox.support_chat == chat.id) & (Outbox.purpose == "offer") & (Outbox.chat_id == manager.telegram_id)
        ).aio_exists())

    async def offers(self, chat: SupportChat) -> list[Outbox]:
        return list(await Outbox.select().where(
            (Outbox.support_chat == chat.id) & (Outbox.purpose == "offer")).aio_execute())

    async def card(self, chat: SupportChat) -> ChatCard:
        session = await self.session_of(chat)
        manager = await Manager.aio_get_or_none(Manager.id == chat.manager_id) if chat.manager_id else None
        count = await ChatMessage.select().where(ChatMessage.support_chat == chat.id).aio_count()
        return dataclasses.replace(
            self.heading(chat, session, manager, await self.colleagues_in(chat)),
            recent_exchanges=await recent_exchanges(chat.id, NOTIFICATION_EXCHANGES),
            message_count=count,
            context=await visitor_context(session, chat),
        )

    @staticmethod
    def heading(chat: SupportChat, session: VisitorSession, owner: Manager | None,
                colleagues: Sequence[Manager]) -> ChatCard:
        """The part of the chat's card a relayed message is headed with (which chat, which client, whose), from
        rows the caller already holds: no reads. Exchanges, message count and visitor context stay empty — a
        message that shows them is rendered from card()."""
        return ChatCard(
            chat_id=chat.id,
            session_id=session.session_id,
            visitor_locale=session.locale,
            status=chat.status,
            client_name=chat.client_name or session.name,
            client_phone=chat.client_phone or session.phone,
            page_url=chat.page_url or session.page_url,
            created_at=chat.created_at,
            manager_name=owner.display_name if owner else None,
            manager_telegram_id=owner.telegram_id if owner else None,
            summary=chat.summary,
            colleague_telegram_ids=tuple(m.telegram_id for m in colleagues),
        )

    async def snapshot(self, chat_id: int) -> dict[str, Any]:
        """A chat as external systems see it (the chats API and the webhooks)."""
        chat = await self.chat(chat_id)
        card = await self.card(chat)

        def when(value: Any) -> str | None:
            return iso(value) if value else None

        return {
            "id": chat.id, "status": chat.status, "session_id": card.session_id,
            "client": {"name": card.client_name, "phone": card.client_phone, "page_url": card.page_url,
                       "verified": bool(card.context and card.context.verified),
                       "external_id": card.context.external_id if card.context else None},
            "manager": {"name": card.manager_name, "telegram_id": card.manager_telegram_id}
            if card.manager_name else None,
            "summary": chat.summary, "created_at": when(chat.created_at), "assigned_at": when(chat.assigned_at),
            "first_response_at": when(chat.first_response_at), "closed_at": when(chat.closed_at),
            "close_reason": chat.close_reason, "rating": chat.rating, "rating_comment": chat.rating_comment,
            "message_count": card.message_count,
        }

    def files(self) -> AttachmentStore:
        if self.attachments is None:
            raise AttachmentRejected("uploads_disabled", "Files are not accepted here.")
        return self.attachments


def manager_load() -> peewee.SelectQuery:
    """A manager's load, the one definition (routing balances on it, the admin's lists show it): chats in work
    plus chats offered to them and not yet taken, so a burst of handoffs spreads across managers.

    A correlated subquery on Manager.id: select it next to Manager."""
    return SupportChat.select(peewee.fn.COUNT(SupportChat.id)).where(
        ((SupportChat.manager == Manager.id) & (SupportChat.status == ChatStatus.ASSIGNED))
        | ((SupportChat.offered_manager == Manager.id) & (SupportChat.status == ChatStatus.WAITING)
           & SupportChat.broadcast_at.is_null())
    )
