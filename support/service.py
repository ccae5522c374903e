"""SupportService: the one place where a chat changes state, is routed, and is relayed.

Every message is stored before anything is sent anywhere: a visitor's text becomes a chat_messages row
(and, after the handoff, an outbox row for Telegram) in one transaction; a manager's reply becomes a row
that the widget reads by event id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import peewee
import peewee_async

from ai import AIAnswer, HandoffAdvisor, Turn, wants_human
from core.config import SupportSettings
from core.db import transaction
from models import (
    Attachment,
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
from support.attachments import AttachmentRejected, AttachmentStore, attachment_meta
from support.contracts import (
    AlreadyRated,
    ChatAlreadyTaken,
    ChatCard,
    ChatClosed,
    ChatNotFound,
    Consultant,
    DailySummary,
    HistoryEntry,
    InvalidToken,
    ManagerChannel,
    NotAllowed,
    SessionNotFound,
    TeamMember,
    TransferResult,
)
from support.delivery import DeliveryWorker
from support.events import EventHub, iso, message_event
from support.hours import is_open, next_opening
from support.integrations import IntegrationSink
from support.outbox import OutboxWorker, enqueue
from support.texts import visitor_text

log = logging.getLogger("support")

AI_HISTORY_TURNS = 12
NOTIFICATION_AI_MESSAGES = 3


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SupportService:
    def __init__(
        self,
        db: peewee_async.AioDatabase,
        *,
        hub: EventHub,
        channel: ManagerChannel,
        consultant: Consultant,
        policy: SupportSettings | None = None,
        admin_ids: Sequence[int] = (),
        manager_ids: Sequence[int] = (),
        outbox_worker: OutboxWorker | None = None,
        auto_handoff: bool = False,
        stream_ai: bool = False,
        integrations: IntegrationSink | None = None,
        integration_worker: DeliveryWorker | None = None,
        attachments: AttachmentStore | None = None,
    ) -> None:
        self.db = db
        self.hub = hub
        self.channel = channel
        self.consultant = consultant
        self.policy = policy or SupportSettings()
        self.admin_ids = tuple(admin_ids)
        self.manager_ids = tuple(manager_ids)
        self.outbox_worker = outbox_worker
        self.auto_handoff = auto_handoff
        # Streaming pieces to the widget only pays off for a model that generates slowly.
        self.stream_ai = stream_ai
        self.advisor = HandoffAdvisor()
        self.integrations = integrations or IntegrationSink()
        self.integration_worker = integration_worker
        self.attachments = attachments
        self._background: set[asyncio.Task[Any]] = set()
        # One AI answer at a time per visitor, in order; a lock lives only while someone holds or awaits it.
        self._ai_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def max_active_chats(self) -> int:
        return self.policy.max_active_chats

    # --- visitor sessions ---------------------------------------------------------------------------

    async def start_session(
        self, *, page_url: str | None = None, locale: str = "ru", name: str | None = None,
        phone: str | None = None,
    ) -> tuple[VisitorSession, str]:
        token = secrets.token_urlsafe(32)
        session = await VisitorSession.aio_create(
            session_id=uuid.uuid4().hex,
            token_hash=hash_token(token),
            page_url=page_url,
            locale=locale,
            name=name,
            phone=phone,
        )
        return session, token

    async def authenticate(self, session_id: str, token: str | None) -> VisitorSession:
        session = await VisitorSession.aio_get_or_none(VisitorSession.session_id == session_id)
        if session is None:
            raise SessionNotFound(session_id)
        if not token or not hmac.compare_digest(session.token_hash, hash_token(token)):
            raise InvalidToken(session_id)
        return session

    async def events_after(self, session: VisitorSession, after: int, limit: int = 200) -> list[dict[str, Any]]:
        rows = await ChatMessage.select().where(
            (ChatMessage.session == session.id) & (ChatMessage.id > after)
        ).order_by(ChatMessage.id).limit(limit).aio_execute()
        return [message_event(row) for row in rows]

    async def session_state(self, session: VisitorSession) -> dict[str, Any]:
        now = utcnow()
        hours = {"support_open": is_open(now, self.policy),
                 "opens_at": next_opening(now, self.policy).isoformat(timespec="minutes")}
        chat = await self._open_chat_of(session)
        if chat is None:
            return {"mode": "ai", "status": "ai", "manager": None, "support_chat_id": None, **hours}
        manager = await Manager.aio_get_or_none(Manager.id == chat.manager_id) if chat.manager_id else None
        return {
            "mode": "manager",
            "status": chat.status,
            "manager": manager.display_name if manager else None,
            "support_chat_id": chat.id,
            **hours,
        }

    # --- visitor → desk -----------------------------------------------------------------------------

    async def visitor_file(
        self, session: VisitorSession, data: bytes, *, filename: str | None, caption: str | None = None,
        client_message_id: str | None = None,
    ) -> ChatMessage:
        """A photo or document from the visitor: stored, then relayed like a message (AttachmentRejected if not).

        The type is read from the bytes, never from what the client claims."""
        attachment = await self._store().save(session.id, data, filename)
        return await self.visitor_message(session, caption or f"📎 {attachment.filename}",
                                          client_message_id=client_message_id, attachment=attachment)

    async def visitor_message(
        self, session: VisitorSession, text: str, *, client_message_id: str | None = None,
        attachment: Attachment | None = None,
    ) -> ChatMessage:
        """Store the visitor's message, then relay it: to the manager after the handoff, else to the AI."""
        if client_message_id:
            existing = await ChatMessage.aio_get_or_none(
                (ChatMessage.session == session.id) & (ChatMessage.client_message_id == client_message_id)
            )
            if existing is not None:
                return existing  # a resend after a reconnection: stored once, relayed once
        async with transaction(self.db):
            chat = await self._open_chat_of(session)
            try:
                message = await ChatMessage.aio_create(
                    session=session.id,
                    support_chat=chat.id if chat else None,
                    sender=Sender.USER,
                    text=text,
                    client_message_id=client_message_id,
                    meta=_attachment_meta_json(attachment),
                )
            except peewee.IntegrityError:
                existing = await ChatMessage.aio_get_or_none(
                    (ChatMessage.session == session.id) & (ChatMessage.client_message_id == client_message_id)
                )
                if existing is None:
                    raise
                return existing
            await VisitorSession.update(last_seen_at=utcnow()).where(
                VisitorSession.id == session.id
            ).aio_execute()
            if chat is not None:
                await SupportChat.update(last_activity_at=utcnow(), idle_warned_at=None).where(
                    SupportChat.id == chat.id
                ).aio_execute()
                if chat.status == ChatStatus.ASSIGNED and chat.manager_id:
                    owner = await Manager.aio_get(Manager.id == chat.manager_id)
                    card = await self._card(chat)
                    for manager in [owner, *await self._colleagues_in(chat)]:
                        if attachment is not None:
                            caption = None if text == f"📎 {attachment.filename}" else text
                            await enqueue([self.channel.visitor_file(card, manager.telegram_id, attachment, caption)])
                        else:
                            await enqueue(self.channel.visitor_message(card, manager.telegram_id, text))
        self.hub.wake(session.id)
        self._wake_outbox()
        if attachment is not None and chat is None:
            # The AI cannot read files; a person can.
            self._spawn(self._offer_manager(session, asked=False))
        elif chat is None or (chat.status == ChatStatus.WAITING and self.policy.ai_while_waiting):
            self._spawn(self._answer_with_ai(session, message))
        return message

    async def transfer_to_manager(
        self, session: VisitorSession, *, name: str | None = None, phone: str | None = None
    ) -> TransferResult:
        if name or phone:
            await VisitorSession.update(
                name=name or session.name, phone=phone or session.phone
            ).where(VisitorSession.id == session.id).aio_execute()
            session.name = name or session.name
            session.phone = phone or session.phone
        summary = None if await self._open_chat_of(session) else await self._summary(session)
        async with transaction(self.db):
            chat = await self._open_chat_of(session)
            if chat is not None:
                return TransferResult(status=_visible_status(chat), support_chat_id=chat.id, created=False)
            try:
                chat = await SupportChat.aio_create(
                    session=session.id,
                    client_name=session.name,
                    client_phone=session.phone,
                    page_url=session.page_url,
                    summary=summary,
                )
            except peewee.IntegrityError:
                # Another request opened it a moment ago (the partial unique index said so).
                chat = await self._open_chat_of(session)
                assert chat is not None
                return TransferResult(status=_visible_status(chat), support_chat_id=chat.id, created=False)
            log.info("✅ Создан чат поддержки %s для сессии %s", chat.id, session.session_id)
            # The AI conversation so far belongs to this chat: the manager sees all of it.
            await ChatMessage.update(support_chat=chat.id).where(
                (ChatMessage.session == session.id) & ChatMessage.support_chat.is_null()
            ).aio_execute()
            status = await self._route(session, chat)
            await self._emit("chat.created", chat.id, routing=status)
        self.hub.wake(session.id)
        self._wake_outbox()
        if status == "queued":
            await self.announce_queue()
        return TransferResult(status=status, support_chat_id=chat.id, created=True)

    # --- routing ------------------------------------------------------------------------------------

    async def _route(self, session: VisitorSession, chat: SupportChat, *, announce: bool = True) -> str:
        """Offer a waiting chat to the least busy online manager, or queue it (a lead after hours).

        Runs inside the caller's transaction; returns the status (told to the visitor when `announce`)."""
        card = await self._card(chat)
        now = utcnow()
        if not is_open(now, self.policy):
            back = next_opening(now, self.policy)
            admins = await self._admin_telegram_ids()
            await enqueue([self.channel.lead_alert(card, admin_id) for admin_id in admins])
            if announce:
                await self._system_message(
                    session, chat, visitor_text("after_hours", session.locale, back=_when(back, session.locale)),
                    {"status": ChatStatus.WAITING, "queued": True, "after_hours": True},
                )
            return "queued"
        managers = await self._routing_candidates()
        if managers:
            if not await self._has_offer(chat, managers[0]):
                await enqueue([self.channel.offer(card, managers[0].telegram_id)])
            await SupportChat.update(offered_at=now, offered_manager=managers[0].id).where(
                SupportChat.id == chat.id).aio_execute()
            if announce:
                await self._system_message(session, chat, visitor_text("waiting", session.locale),
                                           {"status": ChatStatus.WAITING})
            return "waiting"
        admins = await self._admin_telegram_ids()
        await enqueue([self.channel.queued_alert(card, admin_id) for admin_id in admins])
        if announce:
            await self._system_message(session, chat, visitor_text("queued", session.locale),
                                       {"status": ChatStatus.WAITING, "queued": True})
        return "queued"

    async def release_chats(self, telegram_id: int) -> int:
        """A manager lost access: their open chats go back to routing, and their visitors are told."""
        manager = await Manager.aio_get_or_none(Manager.telegram_id == telegram_id)
        if manager is None:
            return 0
        chats = await SupportChat.select().where(
            (SupportChat.manager == manager.id) & (SupportChat.status == ChatStatus.ASSIGNED)).aio_execute()
        released = 0
        for chat in chats:
            async with transaction(self.db):
                moved = await SupportChat.update(
                    status=ChatStatus.WAITING, manager=None, offered_at=None, offered_manager=None, broadcast_at=None,
                    queue_position=None, reminded_at=None, admins_reminded_at=None,
                ).where((SupportChat.id == chat.id) & (SupportChat.manager == manager.id)
                        & (SupportChat.status == ChatStatus.ASSIGNED)).aio_execute()
                if not moved:
                    continue
                chat.manager_id = None
                session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
                await self._system_message(session, chat, visitor_text("manager_left", session.locale,
                                                                       manager=manager.display_name))
                await self._route(session, chat)
            released += 1
            self.hub.wake(chat.session_id)
        self._wake_outbox()
        if released:
            await self.announce_queue()
        return released

    # --- manager → desk -----------------------------------------------------------------------------

    async def register_manager(
        self, telegram_id: int, *, name: str, username: str | None
    ) -> Manager | None:
        """Register (or refresh) a manager allowed by MANAGER_IDS/ADMIN_IDS or added by an admin."""
        manager = await Manager.aio_get_or_none(Manager.telegram_id == telegram_id)
        allowed = telegram_id in self.manager_ids or telegram_id in self.admin_ids
        if manager is None:
            if not allowed:
                return None
            try:
                manager = await Manager.aio_create(
                    telegram_id=telegram_id, name=name, username=username,
                    is_admin=telegram_id in self.admin_ids,
                )
            except peewee.IntegrityError:
                manager = await Manager.aio_get(Manager.telegram_id == telegram_id)
            return manager
        if not manager.is_active:
            return None
        await Manager.update(name=name, username=username).where(Manager.id == manager.id).aio_execute()
        manager.name, manager.username = name, username
        return manager

    async def manager_by_telegram_id(self, telegram_id: int) -> Manager | None:
        manager = await Manager.aio_get_or_none(Manager.telegram_id == telegram_id)
        if manager is None or not manager.is_active:
            return None
        return manager

    def is_admin(self, manager: Manager | None, telegram_id: int) -> bool:
        return telegram_id in self.admin_ids or bool(manager and manager.is_admin)

    async def set_online(self, manager: Manager, online: bool) -> list[ChatCard]:
        """Start or end a shift. Going online offers the chats that wait in the queue."""
        await Manager.update(is_online=online, online_since=utcnow() if online else None).where(
            Manager.id == manager.id
        ).aio_execute()
        manager.is_online = online
        if not online:
            await self._reroute_offers_of(manager)
            return []
        # Queued chats, and those already offered to everyone; one offered to a colleague stays theirs until
        # it times out (then it is broadcast) or they leave (then it is routed again).
        waiting = await SupportChat.select().where(
            (SupportChat.status == ChatStatus.WAITING)
            & (SupportChat.offered_manager.is_null() | SupportChat.broadcast_at.is_null(False))
        ).order_by(SupportChat.created_at).aio_execute()
        offered: list[ChatCard] = []
        async with transaction(self.db):
            for chat in waiting:
                if await self._has_offer(chat, manager):
                    continue
                card = await self._card(chat)
                await enqueue([self.channel.offer(card, manager.telegram_id)])
                # From now on the accept timeout runs for it, and it counts towards this manager's load.
                await SupportChat.update(
                    offered_at=peewee.fn.COALESCE(SupportChat.offered_at, utcnow()),
                    offered_manager=peewee.fn.COALESCE(SupportChat.offered_manager, manager.id),
                ).where(SupportChat.id == chat.id).aio_execute()
                offered.append(card)
        self._wake_outbox()
        return offered

    async def _has_offer(self, chat: SupportChat, manager: Manager) -> bool:
        return bool(await Outbox.select().where(
            (Outbox.support_chat == chat.id) & (Outbox.purpose == "offer") & (Outbox.chat_id == manager.telegram_id)
        ).aio_exists())

    async def _reroute_offers_of(self, manager: Manager) -> None:
        """A manager left their shift: chats offered to them (and not yet to everyone) go to someone online."""
        pending = await SupportChat.select().where(
            (SupportChat.status == ChatStatus.WAITING) & (SupportChat.offered_manager == manager.id)
            & SupportChat.broadcast_at.is_null()).aio_execute()
        for chat in pending:
            async with transaction(self.db):
                moved = await SupportChat.update(offered_manager=None, offered_at=None).where(
                    (SupportChat.id == chat.id) & (SupportChat.status == ChatStatus.WAITING)
                    & (SupportChat.offered_manager == manager.id)).aio_execute()
                if not moved:
                    continue
                session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
                await self._route(session, chat, announce=False)
        if pending:
            self._wake_outbox()
            await self.announce_queue()

    async def accept(self, chat_id: int, manager: Manager) -> ChatCard:
        """Take a waiting chat. Exactly one of several managers pressing at once wins."""
        return await self._take(chat_id, manager)

    async def assign(self, chat_id: int, manager_telegram_id: int, *, by: str) -> ChatCard:
        """An admin gives a waiting chat to a chosen manager (who is told, with the chat's card)."""
        manager = await self.manager_by_telegram_id(manager_telegram_id)
        if manager is None:
            raise NotAllowed(chat_id)
        return await self._take(chat_id, manager, assigned_by=by)

    async def _take(self, chat_id: int, manager: Manager, *, assigned_by: str | None = None) -> ChatCard:
        async with transaction(self.db):
            won = await SupportChat.update(
                status=ChatStatus.ASSIGNED, manager=manager.id, assigned_at=utcnow(), last_activity_at=utcnow(),
                queue_position=None,
            ).where((SupportChat.id == chat_id) & (SupportChat.status == ChatStatus.WAITING)).aio_execute()
            chat = await SupportChat.aio_get_or_none(SupportChat.id == chat_id)
            if chat is None:
                raise ChatNotFound(chat_id)
            if not won:
                if chat.status == ChatStatus.ASSIGNED and chat.manager_id == manager.id:
                    return await self._card(chat)
                if chat.status == ChatStatus.CLOSED:
                    raise ChatClosed(chat_id)
                holder = await Manager.aio_get_or_none(Manager.id == chat.manager_id)
                raise ChatAlreadyTaken(holder.display_name if holder else "?")
            await Manager.update(last_assigned_at=utcnow(), missed_offers=0).where(
                Manager.id == manager.id).aio_execute()
            session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
            await self._system_message(
                session, chat, visitor_text("assigned", session.locale, manager=manager.display_name),
                {"status": ChatStatus.ASSIGNED, "manager": manager.display_name},
            )
            card = await self._card(chat)
            offers = await Outbox.select().where(
                (Outbox.support_chat == chat.id) & (Outbox.purpose == "offer")
            ).aio_execute()
            calls = [self.channel.offer_taken(card, offer, winner=offer.chat_id == manager.telegram_id)
                     for offer in offers]
            if assigned_by is not None and manager.telegram_id not in {offer.chat_id for offer in offers}:
                calls.append(self.channel.transferred(card, manager.telegram_id, assigned_by, None))
            await enqueue(calls)
            await self._emit("chat.assigned", chat.id, assigned_by=assigned_by)
        self.hub.wake(chat.session_id)
        self._wake_outbox()
        await self.announce_queue()
        return card

    async def manager_file(
        self, manager: Manager, chat_id: int, data: bytes, *, filename: str | None, caption: str | None = None,
    ) -> ChatMessage:
        chat = await self._chat_of_manager(manager, chat_id, participants=True)
        attachment = await self._store().save(chat.session_id, data, filename)
        return await self.manager_reply(manager, chat_id, caption or f"📎 {attachment.filename}", attachment=attachment)

    async def manager_reply(
        self, manager: Manager, chat_id: int, text: str, *, attachment: Attachment | None = None
    ) -> ChatMessage:
        async with transaction(self.db):
            chat = await self._chat_of_manager(manager, chat_id, participants=True)
            message = await ChatMessage.aio_create(
                session=chat.session_id,
                support_chat=chat.id,
                sender=Sender.MANAGER,
                manager=manager.id,
                author_name=manager.display_name,
                text=text,
                meta=_attachment_meta_json(attachment),
            )
            now = utcnow()
            await SupportChat.update(
                last_activity_at=now,
                idle_warned_at=None,
                first_response_at=peewee.fn.COALESCE(SupportChat.first_response_at, now),
            ).where(SupportChat.id == chat.id).aio_execute()
            # In a group chat the other managers see what a colleague told the client.
            colleagues = await self._colleagues_in(chat)
            if colleagues:
                owner = await Manager.aio_get(Manager.id == chat.manager_id)
                card = await self._card(chat)
                await enqueue([self.channel.colleague_said(card, other.telegram_id, manager.display_name, text)
                               for other in [owner, *colleagues] if other.id != manager.id])
        self.hub.wake(chat.session_id)
        self._wake_outbox()
        log.info("✅ Сообщение менеджера отправлено в веб-чат %s", chat.id)
        return message

    async def close(self, manager: Manager, chat_id: int) -> ChatCard:
        async with transaction(self.db):
            chat = await self._chat_of_manager(manager, chat_id)
            closed = await SupportChat.update(
                status=ChatStatus.CLOSED, closed_at=utcnow(), close_reason="manager"
            ).where((SupportChat.id == chat.id) & (SupportChat.status != ChatStatus.CLOSED)).aio_execute()
            if not closed:
                raise ChatClosed(chat_id)
            session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
            await self._system_message(
                session, chat, visitor_text("closed_by_manager", session.locale, manager=manager.display_name),
                {"status": ChatStatus.CLOSED, "rate": chat.id},
            )
            chat.status = ChatStatus.CLOSED
            card = await self._card(chat)
            await self._emit("chat.closed", chat.id)
        self.hub.wake(chat.session_id)
        self._wake_outbox()
        return card

    async def transfer_chat(self, manager: Manager, chat_id: int, to_telegram_id: int, note: str | None) -> ChatCard:
        """Hand an accepted chat to another online manager, with a note; the visitor is told."""
        target = await self.manager_by_telegram_id(to_telegram_id)
        if target is None or not target.is_online or target.id == manager.id:
            raise NotAllowed(chat_id)
        async with transaction(self.db):
            chat = await self._chat_of_manager(manager, chat_id)
            moved = await SupportChat.update(
                manager=target.id, transfer_note=note, reminded_at=None, admins_reminded_at=None,
            ).where((SupportChat.id == chat.id) & (SupportChat.manager == manager.id)
                    & (SupportChat.status == ChatStatus.ASSIGNED)).aio_execute()
            if not moved:
                raise ChatClosed(chat_id)
            chat.manager_id = target.id
            session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
            await self._system_message(
                session, chat, visitor_text("transferred", session.locale, manager=target.display_name),
                {"status": ChatStatus.ASSIGNED, "manager": target.display_name},
            )
            card = await self._card(chat)
            await enqueue([self.channel.transferred(card, target.telegram_id, manager.display_name, note)])
            await self._emit("chat.transferred", chat.id, from_manager=manager.display_name, note=note)
        self.hub.wake(chat.session_id)
        self._wake_outbox()
        return card

    async def invite(self, manager: Manager, chat_id: int, colleague_telegram_id: int) -> ChatCard:
        """The chat's manager asks an online colleague to join (a group chat); the colleague decides."""
        colleague = await self.manager_by_telegram_id(colleague_telegram_id)
        chat = await self._chat_of_manager(manager, chat_id)
        if colleague is None or not colleague.is_online or colleague.id == manager.id:
            raise NotAllowed(chat_id)
        card = await self._card(chat)
        async with transaction(self.db):
            await enqueue([self.channel.invitation(card, colleague.telegram_id, manager.display_name)])
        self._wake_outbox()
        return card

    async def join(self, chat_id: int, manager: Manager) -> ChatCard:
        """Accept an invitation: from now on the client's messages reach this manager too."""
        chat = await SupportChat.aio_get_or_none(SupportChat.id == chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        if chat.status != ChatStatus.ASSIGNED:
            raise ChatClosed(chat_id)
        if chat.manager_id == manager.id or await self._joined(chat, manager):
            return await self._card(chat)
        async with transaction(self.db):
            try:
                await ChatParticipant.aio_create(support_chat=chat.id, manager=manager.id)
            except peewee.IntegrityError:
                return await self._card(chat)
            session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
            await self._system_message(session, chat, visitor_text("colleague_joined", session.locale,
                                                                   manager=manager.display_name))
            owner = await Manager.aio_get(Manager.id == chat.manager_id)
            card = await self._card(chat)
            await enqueue([self.channel.colleague_joined(card, owner.telegram_id, manager.display_name)])
        self.hub.wake(chat.session_id)
        self._wake_outbox()
        return card

    async def leave(self, chat_id: int, manager: Manager) -> ChatCard:
        chat = await SupportChat.aio_get_or_none(SupportChat.id == chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        left = await ChatParticipant.delete().where(
            (ChatParticipant.support_chat == chat.id) & (ChatParticipant.manager == manager.id)).aio_execute()
        if not left:
            raise NotAllowed(chat_id)
        return await self._card(chat)

    async def transfer_targets(self, manager: Manager) -> list[TeamMember]:
        """Online colleagues who could take a chat, least busy first."""
        return [member for member in await self.team_overview()
                if member.online and member.active and member.telegram_id != manager.telegram_id]

    async def rate(self, session: VisitorSession, chat_id: int, rating: int, comment: str | None) -> None:
        """The visitor's 1–5 for a chat a manager closed; once per chat."""
        async with transaction(self.db):
            rated = await SupportChat.update(rating=rating, rating_comment=comment).where(
                (SupportChat.id == chat_id) & (SupportChat.session == session.id)
                & (SupportChat.status == ChatStatus.CLOSED) & SupportChat.rating.is_null()
                & SupportChat.close_reason.in_(("manager", "admin"))
            ).aio_execute()
            if not rated:
                chat = await SupportChat.aio_get_or_none(
                    (SupportChat.id == chat_id) & (SupportChat.session == session.id))
                if chat is None:
                    raise ChatNotFound(chat_id)
                raise AlreadyRated(chat_id)
            chat = await SupportChat.aio_get(SupportChat.id == chat_id)
            if chat.manager_id:
                manager = await Manager.aio_get(Manager.id == chat.manager_id)
                card = await self._card(chat)
                await enqueue([self.channel.rating(card, manager.telegram_id, rating, comment)])
            await self._emit("chat.rated", chat.id)
        self._wake_outbox()

    # --- what the scheduled jobs drive --------------------------------------------------------------

    async def announce_queue(self) -> None:
        """Tell every queued visitor their place and an estimated wait, when it changed."""
        if not is_open(utcnow(), self.policy):
            return  # out of hours the visitor was told when managers are back; a minutes estimate would mislead
        waiting = await SupportChat.select().where(SupportChat.status == ChatStatus.WAITING).order_by(
            SupportChat.created_at, SupportChat.id).aio_execute()
        per_chat = await self._minutes_per_chat()
        managers = max(1, len(await self._online_managers()))
        for position, chat in enumerate(waiting, 1):
            if chat.queue_position == position:
                continue
            eta = max(1, round(position * per_chat / managers))
            async with transaction(self.db):
                changed = await SupportChat.update(queue_position=position).where(
                    (SupportChat.id == chat.id) & (SupportChat.status == ChatStatus.WAITING)
                ).aio_execute()
                if not changed:
                    continue
                session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
                await self._system_message(
                    session, chat,
                    visitor_text("queue_position", session.locale, position=str(position), eta=str(eta)),
                    {"status": ChatStatus.WAITING, "queued": True, "position": position, "eta_minutes": eta},
                )
            self.hub.wake(chat.session_id)

    async def expire_offer(self, chat: SupportChat) -> bool:
        """The offered manager did not accept in time: offer the chat to everyone online."""
        async with transaction(self.db):
            marked = await SupportChat.update(broadcast_at=utcnow()).where(
                (SupportChat.id == chat.id) & (SupportChat.status == ChatStatus.WAITING)
                & SupportChat.broadcast_at.is_null()
            ).aio_execute()
            if not marked:
                return False  # accepted meanwhile, or another run did it
            card = await self._card(chat)
            offers = await Outbox.select().where(
                (Outbox.support_chat == chat.id) & (Outbox.purpose == "offer")).aio_execute()
            offered = {offer.chat_id for offer in offers}
            calls = [self.channel.offer_expired(card, offer, self.policy.accept_timeout_seconds) for offer in offers]
            for manager in await self._online_managers():
                if manager.telegram_id not in offered:
                    calls.append(self.channel.offer(card, manager.telegram_id))
            await enqueue(calls)
            if chat.offered_manager_id is not None:
                missed = await Manager.aio_get_or_none(Manager.id == chat.offered_manager_id)
                if missed is not None:
                    await self._count_missed_offer(missed)
        self._wake_outbox()
        return True

    async def _count_missed_offer(self, manager: Manager) -> None:
        await Manager.update(missed_offers=Manager.missed_offers + 1).where(Manager.id == manager.id).aio_execute()
        fresh = await Manager.aio_get(Manager.id == manager.id)
        limit = self.policy.missed_offers_before_offline
        if fresh.is_online and fresh.missed_offers >= limit:
            # A manager away from the phone must not keep receiving chats that then wait in vain.
            await Manager.update(is_online=False, online_since=None, missed_offers=0).where(
                Manager.id == manager.id).aio_execute()
            calls = [self.channel.set_offline_for_missing(manager.telegram_id, limit)]
            calls += [self.channel.admin_notice_missed(admin_id, fresh.display_name, limit)
                      for admin_id in await self._admin_telegram_ids() if admin_id != manager.telegram_id]
            await enqueue(calls)
            log.warning("Manager %s set offline after %s missed offers", manager.telegram_id, limit)

    async def warn_idle(self, chat: SupportChat) -> bool:
        async with transaction(self.db):
            marked = await SupportChat.update(idle_warned_at=utcnow()).where(
                (SupportChat.id == chat.id) & SupportChat.status.in_(ChatStatus.OPEN)
                & SupportChat.idle_warned_at.is_null() & (SupportChat.last_activity_at == chat.last_activity_at)
            ).aio_execute()
            if not marked:
                return False
            session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
            minutes = max(1, round(self.policy.idle_warning_seconds / 60))
            await self._system_message(session, chat, visitor_text("idle_warning", session.locale,
                                                                   minutes=str(minutes)))
        self.hub.wake(chat.session_id)
        return True

    async def close_from_outside(self, chat_id: int, *, by: str) -> dict[str, Any]:
        """An external system (the integration API) closes an open chat; visitor and manager are told."""
        async with transaction(self.db):
            closed = await SupportChat.update(
                status=ChatStatus.CLOSED, closed_at=utcnow(), close_reason="api"
            ).where((SupportChat.id == chat_id) & SupportChat.status.in_(ChatStatus.OPEN)).aio_execute()
            chat = await SupportChat.aio_get_or_none(SupportChat.id == chat_id)
            if chat is None:
                raise ChatNotFound(chat_id)
            if not closed:
                raise ChatClosed(chat_id)
            session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
            await self._system_message(session, chat, visitor_text("closed_by_support", session.locale),
                                       {"status": ChatStatus.CLOSED})
            card = await self._card(chat)
            if chat.manager_id:
                manager = await Manager.aio_get(Manager.id == chat.manager_id)
                await enqueue([self.channel.closed_elsewhere(card, manager.telegram_id, by)])
            await self._emit("chat.closed", chat.id, closed_by=by)
        self.hub.wake(chat.session_id)
        self._wake_outbox()
        await self.announce_queue()
        return await self.chat_snapshot(chat_id)

    async def close_idle(self, chat: SupportChat) -> bool:
        async with transaction(self.db):
            closed = await SupportChat.update(
                status=ChatStatus.CLOSED, closed_at=utcnow(), close_reason="idle"
            ).where((SupportChat.id == chat.id) & SupportChat.status.in_(ChatStatus.OPEN)
                    & (SupportChat.last_activity_at == chat.last_activity_at)).aio_execute()
            if not closed:
                return False  # someone wrote meanwhile, or it is closed already
            session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
            await self._system_message(session, chat, visitor_text("idle_closed", session.locale),
                                       {"status": ChatStatus.CLOSED})
            chat.status = ChatStatus.CLOSED
            card = await self._card(chat)
            if chat.manager_id:
                manager = await Manager.aio_get(Manager.id == chat.manager_id)
                await enqueue([self.channel.idle_closed(card, manager.telegram_id)])
            await self._emit("chat.closed", chat.id)
        self.hub.wake(chat.session_id)
        self._wake_outbox()
        await self.announce_queue()
        return True

    async def remind(self, chat: SupportChat, *, admins: bool, waiting_seconds: float, since: Any) -> bool:
        """A visitor's message is still unanswered: remind the manager (or, later, the admins)."""
        field = SupportChat.admins_reminded_at if admins else SupportChat.reminded_at
        async with transaction(self.db):
            marked = await SupportChat.update({field: utcnow()}).where(
                (SupportChat.id == chat.id) & (SupportChat.status == ChatStatus.ASSIGNED)
                & (field.is_null() | (field < since))
            ).aio_execute()
            if not marked:
                return False
            card = await self._card(chat)
            minutes = max(1, round(waiting_seconds / 60))
            if admins:
                admins_ids = await self._admin_telegram_ids()
                calls = [self.channel.sla_alert(card, admin_id, minutes) for admin_id in admins_ids]
            else:
                manager = await Manager.aio_get(Manager.id == chat.manager_id)
                calls = [self.channel.sla_reminder(card, manager.telegram_id, minutes)]
            await enqueue(calls)
        self._wake_outbox()
        return True

    async def send_daily_summary(self) -> None:
        """Today's figures (the same ones as «📊 Статистика» → today) to every admin, at daily_summary_time."""
        from support.stats import StatsService

        today = await StatsService().period(1)
        waiting = await SupportChat.select().where(SupportChat.status == ChatStatus.WAITING).aio_count()
        summary = DailySummary(day=today.start.date(), figures=today.overall, waiting=waiting)
        await enqueue([self.channel.daily_summary(summary, admin_id) for admin_id in await self._admin_telegram_ids()])
        self._wake_outbox()

    async def _online_managers(self) -> list[Manager]:
        return list(await Manager.select().where(
            (Manager.is_online == True) & (Manager.is_active == True)  # noqa: E712
        ).aio_execute())

    async def _minutes_per_chat(self) -> float:
        """How long a queued chat usually waits for a manager, from the last closed chats (5 min if unknown)."""
        rows = await SupportChat.select(SupportChat.created_at, SupportChat.assigned_at).where(
            SupportChat.assigned_at.is_null(False)).order_by(SupportChat.id.desc()).limit(50).aio_execute()
        waits = sorted((row.assigned_at - row.created_at).total_seconds() / 60 for row in rows)
        return max(1.0, waits[len(waits) // 2]) if waits else 5.0

    # --- reading ------------------------------------------------------------------------------------

    async def active_chats(self, manager: Manager) -> list[ChatCard]:
        chats = await SupportChat.select().where(
            (SupportChat.manager == manager.id) & (SupportChat.status == ChatStatus.ASSIGNED)
        ).order_by(SupportChat.assigned_at).aio_execute()
        return [await self._card(chat) for chat in chats]

    async def team_overview(self) -> list[TeamMember]:
        load = _active_chat_count()
        rows = await Manager.select(Manager, load.alias("load")).order_by(
            Manager.is_online.desc(), Manager.name
        ).aio_execute()
        return [
            TeamMember(m.telegram_id, m.display_name, m.is_online, m.is_active,
                       self.is_admin(m, m.telegram_id), m.load)
            for m in rows
        ]

    async def waiting_chats(self) -> list[ChatCard]:
        chats = await SupportChat.select().where(SupportChat.status == ChatStatus.WAITING).order_by(
            SupportChat.created_at
        ).aio_execute()
        return [await self._card(chat) for chat in chats]

    async def chat_card(self, chat_id: int, viewer: Manager) -> ChatCard:
        chat = await SupportChat.aio_get_or_none(SupportChat.id == chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        await self._check_may_view(chat, viewer)
        return await self._card(chat)

    async def chat_history(self, chat_id: int, viewer: Manager) -> list[HistoryEntry]:
        chat = await SupportChat.aio_get_or_none(SupportChat.id == chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        await self._check_may_view(chat, viewer)
        rows = await ChatMessage.select().where(ChatMessage.support_chat == chat.id).order_by(
            ChatMessage.id
        ).aio_execute()
        return [HistoryEntry(row.sender, row.author_name, row.text, row.created_at) for row in rows]

    async def attachment_for(self, session: VisitorSession, attachment_id: int) -> tuple[Attachment, Any]:
        """A file of this visitor's chat, and where its bytes are (ChatNotFound for anyone else's)."""
        attachment = await Attachment.aio_get_or_none(
            (Attachment.id == attachment_id) & (Attachment.session == session.id))
        if attachment is None:
            raise ChatNotFound(attachment_id)
        return attachment, self._store().path_for(attachment.sha256)

    async def chat_for_telegram_message(self, manager: Manager, telegram_message_id: int) -> int | None:
        """The support chat a bot message in this manager's Telegram chat was about (reply-by-quote)."""
        row = await Outbox.aio_get_or_none(
            (Outbox.chat_id == manager.telegram_id) & (Outbox.telegram_message_id == telegram_message_id)
            & Outbox.support_chat.is_null(False)
        )
        return row.support_chat_id if row else None

    async def chat_snapshot(self, chat_id: int) -> dict[str, Any]:
        """A chat as external systems see it (the integration API and the webhooks)."""
        chat = await SupportChat.aio_get_or_none(SupportChat.id == chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        card = await self._card(chat)

        def when(value: Any) -> str | None:
            return iso(value) if value else None

        return {
            "id": chat.id, "status": chat.status, "session_id": card.session_id,
            "client": {"name": card.client_name, "phone": card.client_phone, "page_url": card.page_url},
            "manager": {"name": card.manager_name, "telegram_id": card.manager_telegram_id}
            if card.manager_name else None,
            "summary": chat.summary, "created_at": when(chat.created_at), "assigned_at": when(chat.assigned_at),
            "first_response_at": when(chat.first_response_at), "closed_at": when(chat.closed_at),
            "close_reason": chat.close_reason, "rating": chat.rating, "rating_comment": chat.rating_comment,
            "message_count": card.message_count,
        }

    async def list_chats(
        self, *, status: str | None, since: Any, limit: int, before_id: int | None
    ) -> list[dict[str, Any]]:
        query = SupportChat.select(SupportChat.id)
        if status:
            query = query.where(SupportChat.status == status)
        if since is not None:
            query = query.where(SupportChat.created_at >= since)
        if before_id is not None:
            query = query.where(SupportChat.id < before_id)
        rows = await query.order_by(SupportChat.id.desc()).limit(limit).aio_execute()
        return [await self.chat_snapshot(row.id) for row in rows]

    async def chat_transcript(self, chat_id: int) -> list[dict[str, Any]]:
        rows = await ChatMessage.select().where(ChatMessage.support_chat == chat_id).order_by(
            ChatMessage.id).aio_execute()
        return [message_event(row) for row in rows]

    # --- internals ----------------------------------------------------------------------------------

    async def _check_may_view(self, chat: SupportChat, viewer: Manager) -> None:
        if viewer.is_admin or viewer.telegram_id in self.admin_ids:
            return
        if chat.status == ChatStatus.WAITING or chat.manager_id == viewer.id or await self._joined(chat, viewer):
            return
        raise NotAllowed(chat.id)

    async def _chat_of_manager(self, manager: Manager, chat_id: int, *, participants: bool = False) -> SupportChat:
        """The open chat this manager works on; invited colleagues count only where `participants` says so
        (they may answer, but closing and handing over stay with the chat's own manager)."""
        chat = await SupportChat.aio_get_or_none(SupportChat.id == chat_id)
        if chat is None:
            raise ChatNotFound(chat_id)
        if chat.status == ChatStatus.CLOSED:
            raise ChatClosed(chat_id)
        if chat.manager_id != manager.id and not (participants and await self._joined(chat, manager)):
            raise NotAllowed(chat_id)
        return chat

    async def _joined(self, chat: SupportChat, manager: Manager) -> bool:
        return bool(await ChatParticipant.select().where(
            (ChatParticipant.support_chat == chat.id) & (ChatParticipant.manager == manager.id)).aio_exists())

    async def _colleagues_in(self, chat: SupportChat) -> list[Manager]:
        """The managers invited into the chat (not its own manager)."""
        return list(await Manager.select().join(ChatParticipant).where(
            ChatParticipant.support_chat == chat.id).order_by(ChatParticipant.joined_at).aio_execute())

    async def _open_chat_of(self, session: VisitorSession) -> SupportChat | None:
        return await SupportChat.aio_get_or_none(
            (SupportChat.session == session.id) & (SupportChat.status.in_(ChatStatus.OPEN))
        )

    async def _routing_candidates(self) -> list[Manager]:
        """Online managers under their limit, least busy first, ties by who has waited longest."""
        load = _active_chat_count()
        rows = await Manager.select(Manager, load.alias("load")).where(
            (Manager.is_online == True) & (Manager.is_active == True)  # noqa: E712
        ).aio_execute()
        candidates = [m for m in rows if m.load < self.max_active_chats]
        never = utcnow().replace(year=1970)
        candidates.sort(key=lambda m: (m.load, m.last_assigned_at or never, m.id))
        return candidates

    async def _admin_telegram_ids(self) -> list[int]:
        admins = await Manager.select(Manager.telegram_id).where(
            (Manager.is_admin == True) & (Manager.is_active == True)  # noqa: E712
        ).aio_execute()
        return sorted({*self.admin_ids, *(m.telegram_id for m in admins)})

    async def _card(self, chat: SupportChat) -> ChatCard:
        session = await VisitorSession.aio_get(VisitorSession.id == chat.session_id)
        manager = await Manager.aio_get_or_none(Manager.id == chat.manager_id) if chat.manager_id else None
        recent = await ChatMessage.select(ChatMessage.text).where(
            (ChatMessage.session == chat.session_id) & (ChatMessage.sender == Sender.AI)
            & (ChatMessage.support_chat == chat.id)
        ).order_by(ChatMessage.id.desc()).limit(NOTIFICATION_AI_MESSAGES).aio_execute()
        count = await ChatMessage.select().where(ChatMessage.support_chat == chat.id).aio_count()
        return ChatCard(
            chat_id=chat.id,
            session_id=session.session_id,
            status=chat.status,
            client_name=chat.client_name or session.name,
            client_phone=chat.client_phone or session.phone,
            page_url=chat.page_url or session.page_url,
            created_at=chat.created_at,
            manager_name=manager.display_name if manager else None,
            manager_telegram_id=manager.telegram_id if manager else None,
            recent_ai_messages=tuple(reversed([row.text for row in recent])),
            message_count=count,
            summary=chat.summary,
            colleague_telegram_ids=tuple(m.telegram_id for m in await self._colleagues_in(chat)),
        )

    async def _system_message(
        self, session: VisitorSession, chat: SupportChat | None, text: str, meta: dict[str, Any] | None = None
    ) -> ChatMessage:
        return await ChatMessage.aio_create(
            session=session.id,
            support_chat=chat.id if chat else None,
            sender=Sender.SYSTEM,
            text=text,
            meta=json.dumps(meta, ensure_ascii=False) if meta else None,
        )

    async def _answer_with_ai(self, session: VisitorSession, question: ChatMessage) -> None:
        lock = self._ai_locks.get(session.id)
        if lock is None:
            lock = self._ai_locks[session.id] = asyncio.Lock()
        async with lock:
            if wants_human(question.text) and await self._open_chat_of(session) is None:
                await self._offer_manager(session, asked=True)
                return
            history = await self._ai_history(session, before=question.id)
            answer = await self._generate(session, question, history)
            # Once a manager has the chat the AI stays silent for good (it may help while the visitor waits).
            chat = await self._open_chat_of(session)
            if chat is not None and not (chat.status == ChatStatus.WAITING and self.policy.ai_while_waiting):
                return
            await ChatMessage.aio_create(
                session=session.id, sender=Sender.AI, text=answer.text, support_chat=chat.id if chat else None,
                meta=json.dumps({"confident": answer.confident, "topics": list(answer.topics),
                                 **({"more": answer.more} if answer.more else {})}, ensure_ascii=False),
            )
            self.hub.wake(session.id)
            if chat is not None:
                return  # waiting for a manager already: no need to offer one
            recent = await ChatMessage.select(ChatMessage.meta).where(
                (ChatMessage.session == session.id) & (ChatMessage.sender == Sender.AI)
            ).order_by(ChatMessage.id.desc()).limit(self.advisor.misses_in_a_row + 1).aio_execute()
            confident = [json.loads(row.meta or "{}").get("confident", True) for row in reversed(recent)]
            # Offer once per streak of misses: at the miss that completes it, not after every later one.
            if self.advisor.advise(confident).offer and not self.advisor.advise(confident[:-1]).offer:
                await self._offer_manager(session, asked=False)

    async def _generate(self, session: VisitorSession, question: ChatMessage, history: list[Turn]) -> AIAnswer:
        self.hub.publish_ephemeral(session.id, {"type": "typing", "author": "ai", "active": True})
        pieces: list[str] = []
        try:
            stream = self.consultant.stream(question.text, history, locale=session.locale)
            async for piece in stream:
                pieces.append(piece)
                if self.stream_ai:
                    self.hub.publish_ephemeral(session.id, {"type": "ai_delta", "reply_to": question.id,
                                                            "text": piece})
            result = getattr(stream, "result", None)
            return result if isinstance(result, AIAnswer) else AIAnswer("".join(pieces), bool(pieces))
        except Exception:
            log.exception("AI consultant failed for session %s", session.session_id)
            return AIAnswer(visitor_text("ai_unavailable", session.locale), confident=False)
        finally:
            self.hub.publish_ephemeral(session.id, {"type": "typing", "author": "ai", "active": False})

    async def _offer_manager(self, session: VisitorSession, *, asked: bool) -> None:
        """The AI can't help (or the visitor asked for a person): offer the manager, or hand over at once."""
        if await self._open_chat_of(session) is not None:
            return
        if asked and self.auto_handoff:
            await self.transfer_to_manager(session)
            return
        await self._system_message(session, None, visitor_text("offer_manager", session.locale),
                                   {"offer_manager": True, "reason": "asked" if asked else "not_answered"})
        self.hub.wake(session.id)

    async def _summary(self, session: VisitorSession) -> str | None:
        """Two lines on what the visitor wants, for the manager; never holds up the handoff for long."""
        history = await self._ai_history(session)
        if not history:
            return None
        try:
            return await asyncio.wait_for(self.consultant.summarize(history, locale=session.locale), timeout=8)
        except Exception as exc:
            log.warning("No summary for session %s: %s", session.session_id, exc)
            return None

    async def _ai_history(self, session: VisitorSession, *, before: int | None = None) -> list[Turn]:
        query = ChatMessage.select().where(
            (ChatMessage.session == session.id) & ChatMessage.sender.in_((Sender.USER, Sender.AI))
        )
        if before is not None:
            query = query.where(ChatMessage.id < before)
        rows = await query.order_by(ChatMessage.id.desc()).limit(AI_HISTORY_TURNS).aio_execute()
        return [_turn(row) for row in reversed(rows)]

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _store(self) -> AttachmentStore:
        if self.attachments is None:
            raise AttachmentRejected("uploads_disabled", "Files are not accepted here.")
        return self.attachments

    def _wake_outbox(self) -> None:
        for worker in (self.outbox_worker, self.integration_worker):
            if worker is not None:
                worker.wake()

    async def _emit(self, event: str, chat_id: int, **extra: Any) -> None:
        """An event for external systems, stored in the caller's transaction (see support/integrations.py)."""
        if self.integrations.urls:
            await self.integrations.emit(event, {"chat": await self.chat_snapshot(chat_id), **extra})

    async def drain(self) -> None:
        """Let AI answers in flight finish (shutdown)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=10)


def _active_chat_count() -> peewee.SelectQuery:
    """Correlated subquery: the manager's load, i.e. chats in work plus chats offered and not yet taken
    (so a burst of handoffs is spread across managers instead of all landing on one)."""
    return SupportChat.select(peewee.fn.COUNT(SupportChat.id)).where(
        ((SupportChat.manager == Manager.id) & (SupportChat.status == ChatStatus.ASSIGNED))
        | ((SupportChat.offered_manager == Manager.id) & (SupportChat.status == ChatStatus.WAITING)
           & SupportChat.broadcast_at.is_null())
    )


async def log_delivery(row: Outbox, result: Any) -> None:
    """The seed's monitoring lines, written when Telegram has really taken the message."""
    if row.purpose == "offer":
        log.info("✅ Менеджер %s уведомлен о новом чате %s", row.chat_id, row.support_chat_id)
    elif row.purpose == "relay":
        log.info("✅ Сообщение от веб-клиента переслано менеджеру %s", row.chat_id)


def _attachment_meta_json(attachment: Attachment | None) -> str | None:
    if attachment is None:
        return None
    return json.dumps({"attachment": attachment_meta(attachment)}, ensure_ascii=False)


def _visible_status(chat: SupportChat) -> str:
    """What transfer-to-manager reports for an open chat: assigned, waiting (offered) or queued."""
    if chat.status == ChatStatus.ASSIGNED:
        return "assigned"
    return "waiting" if chat.offered_at is not None else "queued"


def _when(moment: Any, locale: str) -> str:
    zone = moment.tzname() or ""
    if locale == "en":
        return moment.strftime("%d.%m at %H:%M") + f" ({zone})"
    return moment.strftime("%d.%m в %H:%M") + f" ({'МСК' if zone == 'MSK' else zone})"


def _turn(row: ChatMessage) -> Turn:
    return Turn(role="user" if row.sender == Sender.USER else "assistant", text=row.text)
