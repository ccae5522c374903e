"""Who is offered a waiting chat, and what a queued visitor is told about their wait.

Routing writes only the offer (offered_to, offered_at, queue position); a chat's status is lifecycle's.
"""

from __future__ import annotations

from typing import Any

import peewee

from models import ChatStatus, Manager, SupportChat, VisitorSession, utcnow
from support.contracts import ChatCard
from support.hours import is_open, next_opening
from support.store import Change, ChatStore, manager_load
from support.texts import queue_text, visitor_text


class Routing:
    def __init__(self, store: ChatStore) -> None:
        self.store = store

    async def route(self, change: Change, session: VisitorSession, chat: SupportChat, *, announce: bool = True) -> str:
        """Offer a waiting chat to the least busy online manager, or queue it (a lead after hours).

        Runs inside the caller's change; returns the status (told to the visitor when `announce`)."""
        store, channel = self.store, self.store.channel
        card = await store.card(chat)
        now = utcnow()
        if not is_open(now, self.store.policy):
            back = next_opening(now, self.store.policy)
            await change.send([channel.lead_alert(card, admin_id) for admin_id in await store.admin_telegram_ids()])
            if announce:
                await change.system_message(
                    session, chat, visitor_text("after_hours", session.locale, back=_when(back, session.locale)),
                    {"status": ChatStatus.WAITING, "queued": True, "after_hours": True},
                )
            return "queued"
        managers = await self.candidates()
        if managers:
            if not await store.has_offer(chat, managers[0]):
                await change.send([channel.offer(card, managers[0].telegram_id)])
            await SupportChat.update(offered_at=now, offered_manager=managers[0].id).where(
                SupportChat.id == chat.id).aio_execute()
            if announce:
                await change.system_message(session, chat, visitor_text("waiting", session.locale),
                                            {"status": ChatStatus.WAITING})
            return "waiting"
        await change.send([channel.queued_alert(card, admin_id) for admin_id in await store.admin_telegram_ids()])
        if announce:
            busy = bool(await store.online_managers())  # online, but every one at the chat limit
            text = visitor_text("queued_busy" if busy else "queued", session.locale)
            await change.system_message(session, chat, text,
                                        {"status": ChatStatus.WAITING, "queued": True})
        return "queued"

    async def candidates(self) -> list[Manager]:
        """Online managers under their limit, least busy first, ties by who has waited longest."""
        rows = await Manager.select(Manager, manager_load().alias("load")).where(
            (Manager.is_online == True) & (Manager.is_active == True)  # noqa: E712
        ).aio_execute()
        candidates = [m for m in rows if m.load < self.store.policy.max_active_chats]
        never = utcnow().replace(year=1970)
        candidates.sort(key=lambda m: (m.load, m.last_assigned_at or never, m.id))
        return candidates

    async def offer_waiting_to(self, manager: Manager) -> list[ChatCard]:
        """A manager came online: offer them the queued chats, and those already offered to everyone; one offered
        to a colleague stays theirs until it times out (then it is broadcast) or they leave (then it is routed)."""
        waiting = await SupportChat.select().where(
            (SupportChat.status == ChatStatus.WAITING)
            & (SupportChat.offered_manager.is_null() | SupportChat.broadcast_at.is_null(False))
        ).order_by(SupportChat.created_at).aio_execute()
        offered: list[ChatCard] = []
        async with self.store.change() as change:
            for chat in waiting:
                if await self.store.has_offer(chat, manager):
                    continue
                card = await self.store.card(chat)
                await change.send([self.store.channel.offer(card, manager.telegram_id)])
                # From now on the accept timeout runs for it, and it counts towards this manager's load.
                await SupportChat.update(
                    offered_at=peewee.fn.COALESCE(SupportChat.offered_at, utcnow()),
                    offered_manager=peewee.fn.COALESCE(SupportChat.offered_manager, manager.id),
                ).where(SupportChat.id == chat.id).aio_execute()
                offered.append(card)
        return offered

    async def reroute_offers_of(self, manager: Manager) -> None:
        """A manager left (their shift, or the team): chats offered to them and not yet to everyone go to
        someone online at once, rather than waiting out the accept timeout."""
        pending = await SupportChat.select().where(
            (SupportChat.status == ChatStatus.WAITING) & (SupportChat.offered_manager == manager.id)
            & SupportChat.broadcast_at.is_null()).aio_execute()
        for chat in pending:
            async with self.store.change() as change:
                moved = await SupportChat.update(offered_manager=None, offered_at=None).where(
                    (SupportChat.id == chat.id) & (SupportChat.status == ChatStatus.WAITING)
                    & (SupportChat.offered_manager == manager.id)).aio_execute()
                if moved:
                    await self.route(change, await self.store.session_of(chat), chat, announce=False)
        if pending:
            await self.announce_queue()

    async def announce_queue(self) -> None:
        """Tell every queued visitor their place and an estimated wait, when it changed."""
        if not is_open(utcnow(), self.store.policy):
            return  # out of hours the visitor was told when managers are back; a minutes estimate would mislead
        waiting = await SupportChat.select().where(SupportChat.status == ChatStatus.WAITING).order_by(
            SupportChat.created_at, SupportChat.id).aio_execute()
        per_chat = await self._minutes_per_chat()
        managers = len(await self.store.online_managers())
        for position, chat in enumerate(waiting, 1):
            if chat.queue_position == position:
                continue
            # Nobody online: the visitor was told the first one to come online gets the chat, not a number.
            eta = max(1, round(position * per_chat / managers)) if managers else None
            async with self.store.change() as change:
                changed = await SupportChat.update(queue_position=position).where(
                    (SupportChat.id == chat.id) & (SupportChat.status == ChatStatus.WAITING)
                ).aio_execute()
                if not changed:
                    continue
                session = await self.store.session_of(chat)
                await change.system_message(
                    session, chat,
                    queue_text(position, eta, session.locale),
                    {"status": ChatStatus.WAITING, "queued": True, "position": position, "eta_minutes": eta},
                )

    async def _minutes_per_chat(self) -> float:
        """How long a queued chat usually waits for a manager, from the last closed chats (5 min if unknown)."""
        rows = await SupportChat.select(SupportChat.created_at, SupportChat.assigned_at).where(
            SupportChat.assigned_at.is_null(False)).order_by(SupportChat.id.desc()).limit(50).aio_execute()
        waits = sorted((row.assigned_at - row.created_at).total_seconds() / 60 for row in rows)
        return max(1.0, waits[len(waits) // 2]) if waits else 5.0


def _when(moment: Any, locale: str) -> str:
    zone = moment.tzname() or ""
    if locale == "en":
        return moment.strftime("%d.%m at %H:%M") + f" ({zone})"
    return moment.strftime("%d.%m в %H:%M") + f" ({'МСК' if zone == 'MSK' else zone})"
