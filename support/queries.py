"""Read models of chats for managers (the bot) and for external systems (the chats API)."""

from __future__ import annotations

import json
from typing import Any

from models import ChatMessage, ChatParticipant, ChatStatus, IntegrationEvent, Manager, Outbox, Sender, SupportChat
from support.context import sibling_session_ids
from support.contracts import ChatCard, HistoryEntry, NotAllowed
from support.events import message_event
from support.search import matching_chats
from support.store import ChatStore

FIND_LIMIT = 10


class Queries:
    def __init__(self, store: ChatStore) -> None:
        self.store = store

    async def active_chats(self, manager: Manager) -> list[ChatCard]:
        chats = await SupportChat.select().where(
            (SupportChat.manager == manager.id) & (SupportChat.status == ChatStatus.ASSIGNED)
        ).order_by(SupportChat.assigned_at).aio_execute()
        return [await self.store.card(chat) for chat in chats]

    async def waiting_chats(self) -> list[ChatCard]:
        chats = await SupportChat.select().where(SupportChat.status == ChatStatus.WAITING).order_by(
            SupportChat.created_at).aio_execute()
        return [await self.store.card(chat) for chat in chats]

    async def chat_card(self, chat_id: int, viewer: Manager) -> ChatCard:
        chat = await self.store.chat(chat_id)
        await self._check_may_view(chat, viewer)
        return await self.store.card(chat)

    async def chat_history(self, chat_id: int, viewer: Manager) -> list[HistoryEntry]:
        chat = await self.store.chat(chat_id)
        await self._check_may_view(chat, viewer)
        rows = await ChatMessage.select().where(ChatMessage.support_chat == chat.id).order_by(
            ChatMessage.id).aio_execute()
        # A manager's edit is a system row for the widget; the history already shows the edited text.
        return [HistoryEntry(row.sender, row.author_name, row.text, row.created_at) for row in rows
                if not (row.sender == Sender.SYSTEM and row.meta and '"edited"' in row.meta)]

    async def chat_for_telegram_message(self, manager: Manager, telegram_message_id: int) -> int | None:
        """The support chat a bot message in this manager's Telegram chat was about (reply-by-quote)."""
        rows = await Outbox.select(Outbox.support_chat).where(
            (Outbox.chat_id == manager.telegram_id) & (Outbox.telegram_message_id == telegram_message_id)
            & Outbox.support_chat.is_null(False)
        ).distinct().aio_execute()
        chats = {row.support_chat_id for row in rows}
        # Relays merged into one message may be about several clients: a quote of it names none of them.
        return chats.pop() if len(chats) == 1 else None

    async def chat_snapshot(self, chat_id: int) -> dict[str, Any]:
        return await self.store.snapshot(chat_id)

    async def find(self, viewer: Manager, text: str, limit: int = FIND_LIMIT) -> list[ChatCard]:
        """/find: chats matching a phone, a name or words, newest first; a manager sees their own and those
        they were invited into, an admin all."""
        query = SupportChat.select().where(matching_chats(self.store.db, text))
        if not self.is_admin(viewer):
            query = query.where((SupportChat.manager == viewer.id) | SupportChat.id.in_(
                ChatParticipant.select(ChatParticipant.support_chat).where(ChatParticipant.manager == viewer.id)))
        chats = await query.order_by(SupportChat.id.desc()).limit(limit).aio_execute()
        return [await self.store.card(chat) for chat in chats]

    def is_admin(self, manager: Manager) -> bool:
        return manager.is_admin or manager.telegram_id in self.store.admin_ids

    async def list_chats(
        self, *, status: str | None, since: Any, limit: int, before_id: int | None, text: str | None = None
    ) -> list[dict[str, Any]]:
        query = SupportChat.select(SupportChat.id)
        if text:
            query = query.where(matching_chats(self.store.db, text))
        if status:
            query = query.where(SupportChat.status == status)
        if since is not None:
            query = query.where(SupportChat.created_at >= since)
        if before_id is not None:
            query = query.where(SupportChat.id < before_id)
        rows = await query.order_by(SupportChat.id.desc()).limit(limit).aio_execute()
        return [await self.store.snapshot(row.id) for row in rows]

    async def integration_events_after(self, after: int, limit: int = 200) -> list[dict[str, Any]]:
        """The stored events for external systems after id `after`, oldest first, each with its id."""
        rows = await IntegrationEvent.select().where(IntegrationEvent.id > after).order_by(
            IntegrationEvent.id).limit(limit).aio_execute()
        return [{"id": row.id, **json.loads(row.payload)} for row in rows]

    async def chat_transcript(self, chat_id: int) -> list[dict[str, Any]]:
        rows = await ChatMessage.select().where(ChatMessage.support_chat == chat_id).order_by(
            ChatMessage.id).aio_execute()
        return [message_event(row) for row in rows]

    async def _check_may_view(self, chat: SupportChat, viewer: Manager) -> None:
        if self.is_admin(viewer):
            return
        if chat.status == ChatStatus.WAITING or await self.store.works_on(chat, viewer):
            return
        # A returning visitor's earlier chats: whoever works on their chat now may read them.
        sessions = await sibling_session_ids(await self.store.session_of(chat))
        if await SupportChat.select().where(
            SupportChat.session.in_(sessions) & (SupportChat.status == ChatStatus.ASSIGNED)
            & ((SupportChat.manager == viewer.id) | SupportChat.id.in_(
                ChatParticipant.select(ChatParticipant.support_chat).where(ChatParticipant.manager == viewer.id)))
        ).aio_exists():
            return
        raise NotAllowed(chat.id)
