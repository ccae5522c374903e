"""What visitors and managers send each other: messages, files and the visitor's rating.

Every message is a chat_messages row before it goes anywhere: a visitor's text and its outbox rows for the
managers are one transaction; a manager's reply is a row the widget reads by event id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee

from ai import AIAnswer
from core.db import PreparedInsert, PreparedQuery
from models import (
    Attachment,
    ChatMessage,
    ChatStatus,
    CloseReason,
    Manager,
    Sender,
    SupportChat,
    VisitorSession,
    utcnow,
)
from support.assistant import Assistant, Needs
from support.attachments import attachment_meta
from support.contracts import AlreadyRated, ChatClosed, ChatNotFound, NotAllowed
from support.lifecycle import Lifecycle, writable
from support.store import ChatStore
from support.topics import Marker, Topics
from support.visitors import STATUS_UNKNOWN, note_open_chat_status, open_chat_status

log = logging.getLogger("support")

LAST_SEEN_PRECISION = dt.timedelta(seconds=60)

# A manager's reply: its row and its chat's activity, rendered once (peewee's rendering cost more than the run).
# The message takes its session from the chat in the same statement, and only from a chat the manager may write
# in (Lifecycle.writable): no chat row is read before it. A refused write finds no session and fails on the
# column's NOT NULL; Relay.manager_reply then asks own_chat why. previous_event_id is read back so that the row
# reaches this process's sockets from memory on PostgreSQL too (support.notify).
_MANAGER_MESSAGE = PreparedInsert(
    ChatMessage, ChatMessage.support_chat, ChatMessage.sender, ChatMessage.manager,
    ChatMessage.author_name, ChatMessage.text, ChatMessage.meta, ChatMessage.telegram_message_id,
    ChatMessage.telegram_callback_id,
    computed={ChatMessage.session: lambda values: SupportChat.select(SupportChat.session).where(
        writable(values[ChatMessage.support_chat], values[ChatMessage.manager]))},
    returning=(ChatMessage.session, ChatMessage.previous_event_id))
_ANSWERED = PreparedQuery(SupportChat, lambda chat_id, now: SupportChat.update(
    last_activity_at=now, idle_warned_at=None, first_response_at=peewee.fn.COALESCE(SupportChat.first_response_at, now),
).where(SupportChat.id == chat_id).returning(SupportChat))


class Relay:
    def __init__(
        self, store: ChatStore, lifecycle: Lifecycle, assistant: Assistant, topics: Topics, *,
        auto_handoff: bool = False,
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.assistant = assistant
        self.topics = topics
        self.auto_handoff = auto_handoff
        self._background: set[asyncio.Task[Any]] = set()
        # Told after a visitor's message to an open chat is stored and committed (the co-pilot drafts a reply).
        self.on_visitor_message: list[Callable[[SupportChat, ChatMessage], None]] = []

    # --- visitor → desk -----------------------------------------------------------------------------

    async def visitor_file(
        self, session: VisitorSession, data: bytes | Path, *, filename: str | None, caption: str | None = None,
        client_message_id: str | None = None,
    ) -> ChatMessage:
        """A photo or document from the visitor: stored, then relayed like a message (AttachmentRejected if not).

        The type is read from the bytes, never from what the client claims."""
        attachment = await self.store.files().save(session.id, data, filename)
        return await self.visitor_message(session, caption or f"📎 {attachment.filename}",
                                          client_message_id=client_message_id, attachment=attachment)

    async def visitor_message(
        self, session: VisitorSession, text: str, *, client_message_id: str | None = None,
        attachment: Attachment | None = None,
    ) -> ChatMessage:
        """Store the visitor's message, then relay it: to the managers after the handoff, else to the AI."""
        if client_message_id:
            existing = await _resent(session, client_message_id)
            if existing is not None:
                return existing  # a resend after a reconnection: stored once, relayed once
        if attachment is None and self.assistant.answers_inline:
            # An answer that costs no waiting is worked out before the write and committed with the question: one
            # transaction and one wake-up per message. The question is still a row before anything is relayed.
            async with self.assistant.turn(session):
                # Not for a chat a manager has (the session's read says so): the AI would stay silent anyway. The
                # write reads the chat itself; if it is no longer the manager's, the AI answers after the commit
                # (as it does a remote model's question).
                expected = open_chat_status(session)
                answer = (await self.assistant.prepare(session, text)
                          if expected == STATUS_UNKNOWN or self.assistant.may_answer_in(expected) else None)
                return await self._store_visitor_message(session, text, client_message_id, None, answer)
        return await self._store_visitor_message(session, text, client_message_id, attachment, None)

    async def _store_visitor_message(
        self, session: VisitorSession, text: str, client_message_id: str | None, attachment: Attachment | None,
        answer: AIAnswer | None,
    ) -> ChatMessage:
        store, channel, assistant = self.store, self.store.channel, self.assistant
        # An answer worked out for a message that is no ask for a person is written with the question, in one
        # statement: the chat the insert finds then decides whether it stays (it nearly always does).
        together: ChatMessage | None = None
        async with store.change() as change:
            try:
                if answer is not None and not assistant.asked_for_person(None, text):
                    message, together = await change.question_and_answer(
                        session.id, text, answer.text, assistant.answer_meta(answer),
                        client_message_id=client_message_id)
                else:
                    message = await change.message_in_open_chat(session.id, Sender.USER, text,
                                                                client_message_id=client_message_id,
                                                                meta=_attachment_meta_json(attachment))
            except peewee.IntegrityError:
                existing = await _resent(session, client_message_id)
                if existing is None:
                    raise
                return existing
            now = utcnow()
            # The chat's activity written and the chat read in one statement (after the message's insert, which
            # takes the session's event-order lock first, as a manager's reply does).
            chat = await store.touched(message.support_chat_id, now) if message.support_chat_id else None
            if session.last_seen_at is None or now - session.last_seen_at >= LAST_SEEN_PRECISION:
                # A minute is precise enough for "last seen" and for expiring idle sessions; a write per
                # message in a busy chat is not worth it.
                await VisitorSession.update(last_seen_at=now).where(VisitorSession.id == session.id).aio_execute()
                session.last_seen_at = now
            if chat is not None and chat.status == ChatStatus.ASSIGNED and chat.manager_id:
                # Read once for the whole relay: the managers, the chat's topics; the message is headed from
                # the rows in hand (the visitor's session came with the request).
                owner, colleagues = await store.team(chat)
                if owner is None:
                    raise Manager.DoesNotExist(chat.manager_id)
                heading = store.heading(chat, session, owner, colleagues)
                topics = await self.topics.of_chat(chat)
                for manager in [owner, *colleagues]:
                    if attachment is not None:
                        caption = None if text == f"📎 {attachment.filename}" else text
                        calls = [channel.visitor_file(heading, manager.telegram_id, attachment, caption)]
                    else:
                        calls = channel.visitor_message(heading, manager.telegram_id, text)
                    await change.send(calls, topics=topics)
                await self.topics.mark(change, chat, Marker.WAITING, card=heading, topics=topics)
            asked_for_person = assistant.asked_for_person(chat, text)  # (matched once: asked again below)
            answered = answer is not None and assistant.may_answer(chat) and not asked_for_person
            stored_answer = None
            if together is not None and answered:
                change.stored(session.id, together)
                stored_answer = together
            elif together is not None:
                await change.withdraw(together)  # a chat opened meanwhile, and the AI may not answer in it
            elif answered:
                stored_answer = await assistant.store_answer(change, session, chat, answer)
        note_open_chat_status(session, chat)
        assistant.written(session, message, stored_answer)
        if chat is not None:
            for hook in self.on_visitor_message:
                hook(chat, message)
        if attachment is not None and chat is None:
            # The AI cannot read files; a person can.
            self._spawn(self.assistant.offer_manager(session, Needs.NOT_ANSWERED))
        elif assistant.may_answer(chat):
            if answer is None:
                self._spawn(self._ask_assistant(session, message))
            elif asked_for_person:
                self._spawn(self._follow_up(session, Needs.ASKED_FOR_PERSON))
            elif chat is None and not answer.confident:
                self._spawn(self._after_miss(session, answer))
        return message

    async def _ask_assistant(self, session: VisitorSession, question: ChatMessage) -> None:
        await self._follow_up(session, await self.assistant.answer(session, question))

    async def _after_miss(self, session: VisitorSession, answer: AIAnswer) -> None:
        """An inline answer that did not answer: maybe the miss that calls for offering a person."""
        async with self.assistant.turn(session):
            needs = await self.assistant.needs_after(session, None, answer)
        await self._follow_up(session, needs)

    async def _follow_up(self, session: VisitorSession, needs: Needs) -> None:
        if needs is Needs.ASKED_FOR_PERSON and self.auto_handoff:
            await self.lifecycle.hand_over(session)
        elif needs is not Needs.NOTHING:
            await self.assistant.offer_manager(session, needs)

    async def rate(self, session: VisitorSession, chat_id: int, rating: int, comment: str | None) -> None:
        """The visitor's 1–5 for a chat a manager closed; once per chat."""
        async with self.store.change() as change:
            rated = await SupportChat.update(rating=rating, rating_comment=comment).where(
                (SupportChat.id == chat_id) & (SupportChat.session == session.id)
                & (SupportChat.status == ChatStatus.CLOSED) & SupportChat.rating.is_null()
                & SupportChat.close_reason.in_(CloseReason.RATEABLE)
            ).aio_execute()
            if not rated:
                chat = await SupportChat.aio_get_or_none(
                    (SupportChat.id == chat_id) & (SupportChat.session == session.id))
                if chat is None:
                    raise ChatNotFound(chat_id)
                raise AlreadyRated(chat_id)
            chat = await self.store.chat(chat_id)
            if chat.manager_id:
                manager = await Manager.aio_get(Manager.id == chat.manager_id)
                card = await self.store.card(chat)
                await change.send([self.store.channel.rating(card, manager.telegram_id, rating, comment)])
            await self.topics.refresh_cards(change, chat)
            await change.emit("chat.rated", chat.id)

    # --- manager → visitor --------------------------------------------------------------------------

    async def manager_file(
        self, manager: Manager, chat_id: int, data: bytes, *, filename: str | None, caption: str | None = None,
        telegram_message_id: int | None = None,
    ) -> ChatMessage:
        stored = await _already_stored(manager, telegram_message_id, None)
        if stored is not None:
            return stored  # a redelivered update: the file is not saved a second time
        chat = await self.lifecycle.own_chat(manager, chat_id, participants=True)
        attachment = await self.store.files().save(chat.session_id, data, filename)
        return await self.manager_reply(manager, chat_id, caption or f"📎 {attachment.filename}", attachment=attachment,
                                        telegram_message_id=telegram_message_id)

    async def manager_edit(self, manager: Manager, telegram_message_id: int, text: str) -> ChatMessage | None:
        """The manager edited, in Telegram, a message they had sent to a visitor: the visitor's copy follows.

        The stored row takes the new text; a `message_edited` event (a system row pointing at it) tells the widget.
        None when the edited Telegram message was not a message to a visitor."""
        async with self.store.change() as change:
            message = await ChatMessage.aio_get_or_none(
                (ChatMessage.manager == manager.id) & (ChatMessage.sender == Sender.MANAGER)
                & (ChatMessage.telegram_message_id == telegram_message_id))
            if message is None or message.text == text:
                return None
            if message.support_chat_id is not None:
                await self.lifecycle.own_chat(manager, message.support_chat_id, participants=True)
            await ChatMessage.update(text=text, edited_at=utcnow()).where(ChatMessage.id == message.id).aio_execute()
            session = await VisitorSession.aio_get(VisitorSession.id == message.session_id)
            chat = await SupportChat.aio_get_or_none(SupportChat.id == message.support_chat_id)
            await change.system_message(session, chat, text, {"edited": message.id})
        log.info("✏️ Менеджер изменил сообщение %s в веб-чате", message.id)
        return message

    async def manager_reply(
        self, manager: Manager, chat_id: int, text: str, *, attachment: Attachment | None = None,
        telegram_message_id: int | None = None, telegram_callback_id: str | None = None,
    ) -> ChatMessage:
        """Store the manager's message, then relay it. Telegram redelivers an update whose handler died, so a
        message with a Telegram identity (the message, or the button press) is stored and relayed once.

        Its unique columns say so: a second insert fails and rolls its change back (nothing relayed twice), and
        only then is the stored row looked up. A refusal (the chat closed or handed over since) is looked up too:
        an update redelivered after it is the stored message, as it was before the chat changed."""
        try:
            return await self._store_manager_reply(manager, chat_id, text, attachment, telegram_message_id,
                                                   telegram_callback_id)
        except (peewee.IntegrityError, ChatNotFound, ChatClosed, NotAllowed):
            # A redelivered update, or the same update handled at once elsewhere (a claim taken over from a
            # stalled process).
            stored = await _already_stored(manager, telegram_message_id, telegram_callback_id)
            if stored is not None:
                return stored
            # No twin: the insert found no chat this manager may write in; own_chat says which refusal it is (and
            # if the chat has become theirs meanwhile, the integrity error stands).
            await self.lifecycle.own_chat(manager, chat_id, participants=True)
            raise

    async def _store_manager_reply(
        self, manager: Manager, chat_id: int, text: str, attachment: Attachment | None,
        telegram_message_id: int | None, telegram_callback_id: str | None,
    ) -> ChatMessage:
        store = self.store
        async with store.change() as change:
            # The ownership check (own_chat's rule) is part of the insert: see _MANAGER_MESSAGE.
            message = await _MANAGER_MESSAGE.create(
                support_chat=chat_id, sender=Sender.MANAGER, manager=manager.id,
                author_name=manager.display_name, text=text, meta=_attachment_meta_json(attachment),
                telegram_message_id=telegram_message_id, telegram_callback_id=telegram_callback_id,
            )
            change.stored(message.session_id, message)
            # Written after the message, as the visitor's side does: on PostgreSQL the message's insert takes the
            # session's event-order lock (migration 007) and this the chat's row lock, in the same order on both
            # sides, or two processes relaying in one chat deadlock. The chat's row comes back with it.
            chat = await _ANSWERED.first(chat_id, utcnow())
            if chat is None:
                raise ChatNotFound(chat_id)
            # In a group chat the other managers see what a colleague told the client.
            owner, colleagues = await store.team(chat)
            if colleagues:
                if owner is None:
                    raise Manager.DoesNotExist(chat.manager_id)
                heading = store.heading(chat, await store.session_of(chat), owner, colleagues)
                await change.send([store.channel.colleague_said(heading, other.telegram_id, manager.display_name,
                                                                text)
                                   for other in [owner, *colleagues] if other.id != manager.id])
            await self.topics.mark(change, chat, Marker.ACTIVE)
        log.info("✅ Сообщение менеджера отправлено в веб-чат %s", chat.id)
        return message

    # --- background work ----------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Let AI answers in flight finish (shutdown)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=10)


# Asked before every visitor message the widget numbers (all of them, over its socket): rendered once.
_BY_CLIENT_ID = PreparedQuery(ChatMessage, lambda session, client_message_id: ChatMessage.select().where(
    (ChatMessage.session == session) & (ChatMessage.client_message_id == client_message_id)).limit(1))


async def _resent(session: VisitorSession, client_message_id: str | None) -> ChatMessage | None:
    if client_message_id is None:
        return None  # a message the client did not number is never a resend
    return await _BY_CLIENT_ID.first(session.id, client_message_id)  # type: ignore[no-any-return]


async def _already_stored(
    manager: Manager, telegram_message_id: int | None, telegram_callback_id: str | None,
) -> ChatMessage | None:
    if telegram_message_id is not None:
        return await ChatMessage.aio_get_or_none(
            (ChatMessage.manager == manager.id) & (ChatMessage.telegram_message_id == telegram_message_id))
    if telegram_callback_id is not None:
        return await ChatMessage.aio_get_or_none(ChatMessage.telegram_callback_id == telegram_callback_id)
    return None


def _attachment_meta_json(attachment: Attachment | None) -> str | None:
    if attachment is None:
        return None
    return json.dumps({"attachment": attachment_meta(attachment)}, ensure_ascii=False)
