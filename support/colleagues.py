"""Group chats: the chat's manager invites an online colleague, who joins, sees the client and may answer."""

from __future__ import annotations

import peewee

from models import ChatParticipant, ChatStatus, Manager
from support.contracts import ChatCard, ChatClosed, NotAllowed
from support.lifecycle import Lifecycle
from support.store import ChatStore
from support.texts import visitor_text
from support.topics import Topics


class Colleagues:
    def __init__(self, store: ChatStore, lifecycle: Lifecycle, topics: Topics) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.topics = topics

    async def invite(self, manager: Manager, chat_id: int, colleague_telegram_id: int) -> ChatCard:
        """The chat's manager asks an online colleague to join; the colleague decides."""
        colleague = await Manager.aio_get_or_none(
            (Manager.telegram_id == colleague_telegram_id) & (Manager.is_active == True))  # noqa: E712
        chat = await self.lifecycle.own_chat(manager, chat_id)
        if colleague is None or not colleague.is_online or colleague.id == manager.id:
            raise NotAllowed(chat_id)
        card = await self.store.card(chat)
        async with self.store.change() as change:
            await change.send([self.store.channel.invitation(card, colleague.telegram_id, manager.display_name)])
        return card

    async def join(self, chat_id: int, manager: Manager) -> ChatCard:
        """Accept an invitation: from now on the client's messages reach this manager too."""
        store = self.store
        chat = await store.chat(chat_id)
        if chat.status != ChatStatus.ASSIGNED:
            raise ChatClosed(chat_id)
        if await store.works_on(chat, manager):
            return await store.card(chat)
        async with store.change() as change:
            try:
                await ChatParticipant.aio_create(support_chat=chat.id, manager=manager.id)
            except peewee.IntegrityError:
                return await store.card(chat)
            session = await store.session_of(chat)
            await change.system_message(session, chat, visitor_text("colleague_joined", session.locale,
                                                                    manager=manager.display_name))
            owner = await Manager.aio_get(Manager.id == chat.manager_id)
            card = await store.card(chat)
            await change.send([store.channel.colleague_joined(card, owner.telegram_id, manager.display_name)])
            await self.topics.open(change, chat, manager)
        return card

    async def leave(self, chat_id: int, manager: Manager) -> ChatCard:
        chat = await self.store.chat(chat_id)
        async with self.store.change() as change:
            left = await ChatParticipant.delete().where(
                (ChatParticipant.support_chat == chat.id) & (ChatParticipant.manager == manager.id)).aio_execute()
            if not left:
                raise NotAllowed(chat_id)
            await self.topics.left(change, chat, manager)
        return await self.store.card(chat)
