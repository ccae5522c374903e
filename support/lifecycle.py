"""The only writer of a chat's status (AI → waiting → assigned → closed) and of a manager's availability.

Every transition is a conditional UPDATE whose row count decides a race (two managers pressing «Принять» at
once, a job closing an idle chat while the visitor writes), so running one twice does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import peewee

from core.db import PreparedQuery, is_sqlite
from models import (
    AcceptButton,
    ChatMessage,
    ChatParticipant,
    ChatStatus,
    CloseReason,
    Manager,
    SupportChat,
    VisitorSession,
    utcnow,
)
from support.contracts import ChatAlreadyTaken, ChatCard, ChatClosed, ChatNotFound, NotAllowed, TransferResult
from support.routing import Routing
from support.search import phone_key
from support.store import Change, ChatStore
from support.texts import visitor_text
from support.topics import Topics

log = logging.getLogger("support")

Summarizer = Callable[[VisitorSession], Awaitable[str | None]]
# Told, inside the transaction, that a manager has just taken a chat (accept, assign, transfer): the co-pilot.
TakenHook = Callable[[Change, SupportChat, Manager, ChatCard], Awaitable[None]]


async def _no_summary(session: VisitorSession) -> str | None:
    return None


class Lifecycle:
    def __init__(
        self, store: ChatStore, routing: Routing, topics: Topics, *, summarize: Summarizer = _no_summary
    ) -> None:
        self.store = store
        self.routing = routing
        self.topics = topics
        self.summarize = summarize
        self.on_taken: list[TakenHook] = []

    # --- a visitor's chat ---------------------------------------------------------------------------

    async def hand_over(
        self, session: VisitorSession, *, name: str | None = None, phone: str | None = None
    ) -> TransferResult:
        """Open a support chat for the visitor (their AI conversation goes with it) and route it."""
        if name or phone:
            await VisitorSession.update(
                name=name or session.name, phone=phone or session.phone
            ).where(VisitorSession.id == session.id).aio_execute()
            session.name = name or session.name
            session.phone = phone or session.phone
        summary = None if await self.store.open_chat_of(session) else await self.summarize(session)
        async with self.store.change() as change:
            chat = await self.store.open_chat_of(session)
            if chat is not None:
                if name:  # the form again, now with a name: the chat's topics stop saying "Гость #N"
                    await self.topics.client_named(change, chat)
                return TransferResult(status=_visible_status(chat), support_chat_id=chat.id)
            try:
                chat = await SupportChat.aio_create(
                    session=session.id, status=ChatStatus.WAITING, client_name=session.name,
                    client_phone=session.phone, phone_key=phone_key(session.phone), page_url=session.page_url,
                    summary=summary,
                )
            except peewee.IntegrityError:
                # Another request opened it a moment ago (the partial unique index said so).
                chat = await self.store.open_chat_of(session)
                assert chat is not None
                return TransferResult(status=_visible_status(chat), support_chat_id=chat.id)
            log.info("✅ Создан чат поддержки %s для сессии %s", chat.id, session.session_id)
            # The AI conversation so far belongs to this chat: the manager sees all of it.
            await ChatMessage.update(support_chat=chat.id).where(
                (ChatMessage.session == session.id) & ChatMessage.support_chat.is_null()
            ).aio_execute()
            status = await self.routing.route(change, session, chat)
            change.wake(session.id)
            await change.emit("chat.created", chat.id, routing=status)
        if status == "queued":
            await self.routing.announce_queue()
        return TransferResult(status=status, support_chat_id=chat.id)

    async def accept(self, chat_id: int, manager: Manager) -> ChatCard:
        """Take a waiting chat. Exactly one of several managers pressing at once wins."""
        return await self._take(chat_id, manager)

    async def assign(self, chat_id: int, manager_telegram_id: int, *, by: str) -> ChatCard:
        """An admin gives a waiting chat to a chosen manager (who is told, with the chat's card)."""
        manager = await Manager.aio_get_or_none(
            (Manager.telegram_id == manager_telegram_id) & (Manager.is_active == True))  # noqa: E712
        if manager is None:
            raise NotAllowed(chat_id)
        return await self._take(chat_id, manager, assigned_by=by)

    async def _take(self, chat_id: int, manager: Manager, *, assigned_by: str | None = None) -> ChatCard:
        store, channel = self.store, self.store.channel
        async with store.change() as change:
            won = await SupportChat.update(
                status=ChatStatus.ASSIGNED, manager=manager.id, assigned_at=utcnow(), last_activity_at=utcnow(),
                queue_position=None,
            ).where((SupportChat.id == chat_id) & (SupportChat.status == ChatStatus.WAITING)).aio_execute()
            chat = await store.chat(chat_id)
            if not won:
                if chat.status == ChatStatus.ASSIGNED and chat.manager_id == manager.id:
                    return await store.card(chat)
                if chat.status == ChatStatus.CLOSED:
                    raise ChatClosed(chat_id)
                holder = await Manager.aio_get_or_none(Manager.id == chat.manager_id)
                raise ChatAlreadyTaken(holder.display_name if holder else "?")
            await Manager.update(last_assigned_at=utcnow(), missed_offers=0).where(
                Manager.id == manager.id).aio_execute()
            session = await store.session_of(chat)
            await change.system_message(
                session, chat, visitor_text("assigned", session.locale, manager=manager.display_name),
                {"status": ChatStatus.ASSIGNED, "manager": manager.display_name},
            )
            card = await store.card(chat)
            offers = await store.offers(chat)
            calls = [channel.offer_taken(card, offer, winner=offer.chat_id == manager.telegram_id)
                     for offer in offers]
            if assigned_by is not None and manager.telegram_id not in {offer.chat_id for offer in offers}:
                calls.append(channel.transferred(card, manager.telegram_id, assigned_by, None))
            await change.send(calls)
            await self._drop_accept_buttons(change, chat, card, winner_telegram_id=manager.telegram_id)
            await self.topics.open(change, chat, manager)
            for hook in self.on_taken:
                await hook(change, chat, manager, card)
            await change.emit("chat.assigned", chat.id, assigned_by=assigned_by)
        await self.routing.announce_queue()
        return card

    async def show_accept_button(
        self, chat_id: int, telegram_chat_id: int, message_id: int, *, page: int, pages: int
    ) -> bool:
        """A details message now shows «✅ Принять чат»: remember it, so taking the chat drops the button there.
        False when the chat is no longer waiting (taken while the page was drawn): its buttons are stale already.

        The chat's row is locked first, so either this sees the chat taken or the taking sees this message."""
        async with self.store.change():
            status = SupportChat.select(SupportChat.status).where(SupportChat.id == chat_id)
            if not is_sqlite(self.store.db):  # SQLite writes one at a time anyway
                status = status.for_update()
            chat = await status.aio_first()
            if chat is None or chat.status != ChatStatus.WAITING:
                return False
            await AcceptButton.insert(
                support_chat=chat_id, telegram_chat_id=telegram_chat_id, message_id=message_id, page=page,
                pages=pages,
            ).on_conflict(
                conflict_target=[AcceptButton.telegram_chat_id, AcceptButton.message_id],
                update={AcceptButton.support_chat: chat_id, AcceptButton.page: page, AcceptButton.pages: pages},
            ).aio_execute()
        return True

    async def _drop_accept_buttons(
        self, change: Change, chat: SupportChat, card: ChatCard, *, winner_telegram_id: int | None = None
    ) -> None:
        """The chat is no longer waiting: every details message still offering to accept it loses that button."""
        buttons = list(await AcceptButton.select().where(AcceptButton.support_chat == chat.id).aio_execute())
        if not buttons:
            return
        channel = self.store.channel
        await change.send([channel.accept_gone(card, button, winner=button.telegram_chat_id == winner_telegram_id)
                           for button in buttons])
        await AcceptButton.delete().where(AcceptButton.id.in_([button.id for button in buttons])).aio_execute()

    async def transfer(self, manager: Manager, chat_id: int, to_telegram_id: int, note: str | None) -> ChatCard:
        """Hand an accepted chat to another online manager, with a note; the visitor is told."""
        target = await Manager.aio_get_or_none(
            (Manager.telegram_id == to_telegram_id) & (Manager.is_active == True))  # noqa: E712
        if target is None or not target.is_online or target.id == manager.id:
            raise NotAllowed(chat_id)
        async with self.store.change() as change:
            chat = await self.own_chat(manager, chat_id)
            moved = await SupportChat.update(
                manager=target.id, transfer_note=note, reminded_at=None, admins_reminded_at=None,
            ).where((SupportChat.id == chat.id) & (SupportChat.manager == manager.id)
                    & (SupportChat.status == ChatStatus.ASSIGNED)).aio_execute()
            if not moved:
                raise ChatClosed(chat_id)
            chat.manager_id = target.id
            session = await self.store.session_of(chat)
            await change.system_message(
                session, chat, visitor_text("transferred", session.locale, manager=target.display_name),
                {"status": ChatStatus.ASSIGNED, "manager": target.display_name},
            )
            card = await self.store.card(chat)
            await change.send([self.store.channel.transferred(card, target.telegram_id, manager.display_name, note)])
            await self.topics.handed_over(change, chat, manager, target)
            for hook in self.on_taken:
                await hook(change, chat, target, card)
            await change.emit("chat.transferred", chat.id, from_manager=manager.display_name, note=note)
        return card

    async def close(self, manager: Manager, chat_id: int) -> ChatCard:
        """The chat's manager closes it; the visitor is asked to rate."""
        async with self.store.change() as change:
            chat = await self.own_chat(manager, chat_id)
            if not await self._mark_closed(chat, CloseReason.MANAGER):
                raise ChatClosed(chat_id)
            session = await self.store.session_of(chat)
            await change.system_message(
                session, chat, visitor_text("closed_by_manager", session.locale, manager=manager.display_name),
                {"status": ChatStatus.CLOSED, "rate": chat.id},
            )
            card = await self.store.card(chat)
            await self.topics.closed(change, chat)
            await change.emit("chat.closed", chat.id)
        return card

    async def close_from_outside(self, chat_id: int, *, by: str) -> dict[str, Any]:
        """An external system (the chats API) closes an open chat; visitor and manager are told."""
        async with self.store.change() as change:
            chat = await self.store.chat(chat_id)
            if not await self._mark_closed(chat, CloseReason.API):
                raise ChatClosed(chat_id)
            await self._closed_without_manager(change, chat, "closed_by_support", closed_by=by)
        await self.routing.announce_queue()
        return await self.store.snapshot(chat_id)

    async def warn_idle(self, chat: SupportChat) -> bool:
        async with self.store.change() as change:
            marked = await SupportChat.update(idle_warned_at=utcnow()).where(
                (SupportChat.id == chat.id) & SupportChat.status.in_(ChatStatus.OPEN)
                & SupportChat.idle_warned_at.is_null() & (SupportChat.last_activity_at == chat.last_activity_at)
            ).aio_execute()
            if not marked:
                return False
            session = await self.store.session_of(chat)
            minutes = max(1, round(self.store.policy.idle_warning_seconds / 60))
            await change.system_message(session, chat, visitor_text("idle_warning", session.locale,
                                                                    minutes=str(minutes)))
        return True

    async def close_idle(self, chat: SupportChat) -> bool:
        async with self.store.change() as change:
            # Unless someone wrote since the job looked.
            if not await self._mark_closed(chat, CloseReason.IDLE,
                                           SupportChat.last_activity_at == chat.last_activity_at):
                return False
            await self._closed_without_manager(change, chat, "idle_closed")
        await self.routing.announce_queue()
        return True

    async def _closed_without_manager(
        self, change: Change, chat: SupportChat, visitor_text_key: str, *, closed_by: str | None = None
    ) -> None:
        """Closed by a job or another system: the visitor is told, and the chat's manager (if any) too."""
        session = await self.store.session_of(chat)
        await change.system_message(session, chat, visitor_text(visitor_text_key, session.locale),
                                    {"status": ChatStatus.CLOSED})
        card = await self.store.card(chat)
        await self._drop_accept_buttons(change, chat, card)
        await self.topics.closed(change, chat)
        if chat.manager_id:
            manager = await Manager.aio_get(Manager.id == chat.manager_id)
            channel = self.store.channel
            notice = (channel.idle_closed(card, manager.telegram_id) if closed_by is None
                      else channel.closed_elsewhere(card, manager.telegram_id, closed_by))
            await change.send([notice])
        await change.emit("chat.closed", chat.id, **({"closed_by": closed_by} if closed_by else {}))

    async def _mark_closed(self, chat: SupportChat, reason: str, *conditions: peewee.Expression) -> bool:
        closed = await SupportChat.update(status=ChatStatus.CLOSED, closed_at=utcnow(), close_reason=reason).where(
            (SupportChat.id == chat.id) & SupportChat.status.in_(ChatStatus.OPEN), *conditions).aio_execute()
        if closed:
            chat.status, chat.close_reason = ChatStatus.CLOSED, reason
            for hook in self.store.close_hooks:
                await hook(chat)
        return bool(closed)

    async def own_chat(self, manager: Manager, chat_id: int, *, participants: bool = False) -> SupportChat:
        """The open chat this manager works on; invited colleagues count only where `participants` says so
        (they may answer, but closing and handing over stay with the chat's own manager). With `participants`
        the rule is `participates`, the one a reply's insert checks (`writable`)."""
        if participants:
            chat = await _CHAT_AS_SEEN_BY.first(chat_id, manager.id)
            if chat is None:
                raise ChatNotFound(chat_id)
            works_on = bool(chat.participates)
        else:
            chat = await self.store.chat(chat_id)
            works_on = chat.manager_id == manager.id
        if chat.status == ChatStatus.CLOSED:
            raise ChatClosed(chat_id)
        if not works_on:
            raise NotAllowed(chat_id)
        return chat

    # --- a manager's availability -------------------------------------------------------------------

    async def set_online(self, manager: Manager, online: bool) -> list[ChatCard]:
        """Start or end a shift. Going online offers the chats that wait in the queue."""
        await Manager.update(is_online=online, online_since=utcnow() if online else None).where(
            Manager.id == manager.id).aio_execute()
        manager.is_online = online
        if not online:
            await self.routing.reroute_offers_of(manager)
            return []
        return await self.routing.offer_waiting_to(manager)

    async def manager_removed(self, telegram_id: int) -> int:
        """A manager lost access (an admin disabled them): they go offline, offers pending to them are routed to
        someone else, and their open chats go back to routing with their visitors told. Returns chats released."""
        manager = await Manager.aio_get_or_none(Manager.telegram_id == telegram_id)
        if manager is None:
            return 0
        await Manager.update(is_online=False, online_since=None).where(Manager.id == manager.id).aio_execute()
        manager.is_online = False
        await self.routing.reroute_offers_of(manager)
        chats = await SupportChat.select().where(
            (SupportChat.manager == manager.id) & (SupportChat.status == ChatStatus.ASSIGNED)).aio_execute()
        released = 0
        for chat in chats:
            async with self.store.change() as change:
                moved = await SupportChat.update(
                    status=ChatStatus.WAITING, manager=None, offered_at=None, offered_manager=None, broadcast_at=None,
                    queue_position=None, reminded_at=None, admins_reminded_at=None,
                ).where((SupportChat.id == chat.id) & (SupportChat.manager == manager.id)
                        & (SupportChat.status == ChatStatus.ASSIGNED)).aio_execute()
                if not moved:
                    continue
                chat.manager_id = None
                await self.topics.left(change, chat, manager)
                session = await self.store.session_of(chat)
                await change.system_message(session, chat, visitor_text("manager_left", session.locale,
                                                                        manager=manager.display_name))
                await self.routing.route(change, session, chat)
            released += 1
        if released:
            await self.routing.announce_queue()
        return released

    async def expire_offer(self, chat: SupportChat) -> bool:
        """The offered manager did not accept in time: offer the chat to everyone online."""
        store, channel = self.store, self.store.channel
        async with store.change() as change:
            marked = await SupportChat.update(broadcast_at=utcnow()).where(
                (SupportChat.id == chat.id) & (SupportChat.status == ChatStatus.WAITING)
                & SupportChat.broadcast_at.is_null()
            ).aio_execute()
            if not marked:
                return False  # accepted meanwhile, or another run did it
            card = await store.card(chat)
            offers = await store.offers(chat)
            offered = {offer.chat_id for offer in offers}
            calls = [channel.offer_expired(card, offer, self.store.policy.accept_timeout_seconds) for offer in offers]
            calls += [channel.offer(card, manager.telegram_id)
                      for manager in await store.online_managers() if manager.telegram_id not in offered]
            await change.send(calls)
            if chat.offered_manager_id is not None:
                missed = await Manager.aio_get_or_none(Manager.id == chat.offered_manager_id)
                if missed is not None:
                    await self._count_missed_offer(missed)
        return True

    async def _count_missed_offer(self, manager: Manager) -> None:
        await Manager.update(missed_offers=Manager.missed_offers + 1).where(Manager.id == manager.id).aio_execute()
        fresh = await Manager.aio_get(Manager.id == manager.id)
        limit = self.store.policy.missed_offers_before_offline
        if fresh.is_online and fresh.missed_offers >= limit:
            # A manager away from the phone must not keep receiving chats that then wait in vain.
            await Manager.update(is_online=False, online_since=None, missed_offers=0).where(
                Manager.id == manager.id).aio_execute()
            channel = self.store.channel
            calls = [channel.set_offline_for_missing(manager.telegram_id, limit)]
            calls += [channel.admin_notice_missed(admin_id, fresh.display_name, limit)
                      for admin_id in await self.store.admin_telegram_ids() if admin_id != manager.telegram_id]
            async with self.store.change() as change:
                await change.send(calls)
            log.warning("Manager %s set offline after %s missed offers", manager.telegram_id, limit)


def participates(manager_id: Any) -> peewee.Expression:
    """Who works on a chat (a condition on support_chats): its own manager, and the colleagues invited into it;
    ChatStore.works_on says the same of a chat in hand."""
    joined = ChatParticipant.select(ChatParticipant.id).where(
        (ChatParticipant.support_chat == SupportChat.id) & (ChatParticipant.manager == manager_id))
    return (SupportChat.manager == manager_id) | peewee.fn.EXISTS(joined)


def writable(chat_id: Any, manager_id: Any) -> peewee.Expression:
    """own_chat(participants=True)'s rule as a condition on support_chats, for a statement that writes into the
    chat and checks it in the same round trip: the chat is not closed, and the manager participates in it.
    own_chat then explains a refusal (ChatNotFound, ChatClosed, NotAllowed)."""
    return (SupportChat.id == chat_id) & (SupportChat.status != ChatStatus.CLOSED) & participates(manager_id)


# A chat with whether the manager participates in it, in one read.
_CHAT_AS_SEEN_BY = PreparedQuery(SupportChat, lambda chat_id, manager_id: SupportChat.select(
    SupportChat, participates(manager_id).alias("participates")).where(SupportChat.id == chat_id))


def _visible_status(chat: SupportChat) -> str:
    """What a handover reports for an open chat: assigned, waiting (offered) or queued."""
    if chat.status == ChatStatus.ASSIGNED:
        return "assigned"
    return "waiting" if chat.offered_at is not None else "queued"
