"""Nudges the scheduled jobs send: an unanswered visitor to their manager (then the admins), and the admins'
daily summary."""

from __future__ import annotations

from typing import Any

from models import ChatStatus, Manager, SupportChat, utcnow
from support.contracts import DailySummary
from support.localtime import as_local
from support.stats import StatsService
from support.store import ChatStore
from support.topics import Marker, Topics


class Reminders:
    def __init__(self, store: ChatStore, topics: Topics) -> None:
        self.store = store
        self.topics = topics

    async def remind(self, chat: SupportChat, *, admins: bool, waiting_seconds: float, since: Any) -> bool:
        """A visitor's message is still unanswered: remind the manager (or, later, the admins)."""
        store, channel = self.store, self.store.channel
        field = SupportChat.admins_reminded_at if admins else SupportChat.reminded_at
        async with store.change() as change:
            marked = await SupportChat.update({field: utcnow()}).where(
                (SupportChat.id == chat.id) & (SupportChat.status == ChatStatus.ASSIGNED)
                & (field.is_null() | (field < since))
            ).aio_execute()
            if not marked:
                return False
            card = await store.card(chat)
            minutes = max(1, round(waiting_seconds / 60))
            if admins:
                calls = [channel.sla_alert(card, admin_id, minutes) for admin_id in await store.admin_telegram_ids()]
            else:
                manager = await Manager.aio_get(Manager.id == chat.manager_id)
                calls = [channel.sla_reminder(card, manager.telegram_id, minutes)]
            await change.send(calls)
            await self.topics.mark(change, chat, f"{Marker.LATE} {minutes} мин ·")
        return True

    async def send_daily_summary(self) -> None:
        """Today's figures (the same ones as «📊 Статистика» → today) to every admin, at daily_summary_time."""
        today = await StatsService(zone=self.store.policy.zone).period(1)
        waiting = await SupportChat.select().where(SupportChat.status == ChatStatus.WAITING).aio_count()
        summary = DailySummary(day=as_local(today.start, today.zone).date(), figures=today.overall, waiting=waiting)
        async with self.store.change() as change:
            await change.send([self.store.channel.daily_summary(summary, admin_id)
                               for admin_id in await self.store.admin_telegram_ids()])
