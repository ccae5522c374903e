"""Periodic jobs (APScheduler in the bot's loop). Each derives its work from the database, so running it
twice, or after a restart, does no harm: every transition is a conditional update (support/lifecycle.py)."""

from __future__ import annotations

import datetime as dt
import logging

import peewee
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from core.config import parse_clock
from models import ChatMessage, ChatStatus, Outbox, OutboxStatus, ProcessedUpdate, Sender, SupportChat, utcnow
from support.service import SupportService

log = logging.getLogger(__name__)
PROCESSED_UPDATES_KEPT = dt.timedelta(days=7)
# Delivered Bot API calls are kept a month (reply-by-quote looks them up), then the table is trimmed.
DELIVERED_CALLS_KEPT = dt.timedelta(days=30)
TOPICS_PASS_MINUTES = 5


class SupportJobs:
    def __init__(self, service: SupportService) -> None:
        self.service = service
        self.policy = service.policy

    async def expire_offers(self) -> int:
        deadline = utcnow() - dt.timedelta(seconds=self.policy.accept_timeout_seconds)
        chats = await SupportChat.select().where(
            (SupportChat.status == ChatStatus.WAITING) & SupportChat.broadcast_at.is_null()
            & SupportChat.offered_at.is_null(False) & (SupportChat.offered_at <= deadline)
        ).aio_execute()
        return sum([await self.service.lifecycle.expire_offer(chat) for chat in chats])

    async def close_idle_chats(self) -> tuple[int, int]:
        """Warn, then close, open chats with no message for idle_close_seconds. Returns (warned, closed)."""
        now = utcnow()
        close_before = now - dt.timedelta(seconds=self.policy.idle_close_seconds)
        warning = min(self.policy.idle_warning_seconds, self.policy.idle_close_seconds // 2)
        warn_before = close_before + dt.timedelta(seconds=warning)
        open_chats = SupportChat.status.in_(ChatStatus.OPEN)
        closed = 0
        for chat in await SupportChat.select().where(open_chats & (SupportChat.last_activity_at <= close_before)
                                                      & SupportChat.idle_warned_at.is_null(False)).aio_execute():
            closed += await self.service.lifecycle.close_idle(chat)
        warned = 0
        for chat in await SupportChat.select().where(open_chats & (SupportChat.last_activity_at <= warn_before)
                                                      & SupportChat.idle_warned_at.is_null()).aio_execute():
            warned += await self.service.lifecycle.warn_idle(chat)
        return warned, closed

    async def remind_unanswered(self) -> int:
        """A visitor message the manager has not answered for reminder_seconds: remind, then escalate."""
        last_visitor = ChatMessage.select(peewee.fn.MAX(ChatMessage.created_at)).where(
            (ChatMessage.support_chat == SupportChat.id) & (ChatMessage.sender == Sender.USER))
        last_manager = ChatMessage.select(peewee.fn.MAX(ChatMessage.created_at)).where(
            (ChatMessage.support_chat == SupportChat.id) & (ChatMessage.sender == Sender.MANAGER))
        chats = await SupportChat.select(
            SupportChat, last_visitor.alias("visitor_at"), last_manager.alias("manager_at"),
        ).where(SupportChat.status == ChatStatus.ASSIGNED).aio_execute()
        now = utcnow()
        reminders = self.service.reminders
        sent = 0
        for chat in chats:
            visitor_at = _as_datetime(chat.visitor_at)
            manager_at = _as_datetime(chat.manager_at)
            if visitor_at is None or (manager_at is not None and manager_at >= visitor_at):
                continue
            waiting = (now - max(visitor_at, chat.assigned_at or visitor_at)).total_seconds()
            if waiting >= 2 * self.policy.reminder_seconds and _before(chat.admins_reminded_at, visitor_at):
                sent += await reminders.remind(chat, admins=True, waiting_seconds=waiting, since=visitor_at)
            elif waiting >= self.policy.reminder_seconds and _before(chat.reminded_at, visitor_at):
                sent += await reminders.remind(chat, admins=False, waiting_seconds=waiting, since=visitor_at)
        return sent

    async def prune_processed_updates(self) -> int:
        cutoff = utcnow() - PROCESSED_UPDATES_KEPT
        # A claim left by a process that died long ago goes too (its update was redelivered and handled since).
        return int(await ProcessedUpdate.delete().where(
            (ProcessedUpdate.processed_at < cutoff)
            | (ProcessedUpdate.processed_at.is_null() & (ProcessedUpdate.claimed_at < cutoff))).aio_execute())

    async def prune_delivered_calls(self) -> int:
        """Pending calls are never touched: only what Telegram took (or refused for good) long ago."""
        return int(await Outbox.delete().where(
            Outbox.status.in_([OutboxStatus.SENT, OutboxStatus.FAILED])  # never one still queued or in flight
            & (Outbox.created_at < utcnow() - DELIVERED_CALLS_KEPT)
        ).aio_execute())

    async def topics_pass(self) -> None:
        """Has the bot's topic mode changed (getMe)? And closed topics whose time is up are deleted."""
        topics = self.service.topics
        await topics.refresh_mode()
        await topics.delete_due()

    async def daily_summary(self) -> None:
        await self.service.reminders.send_daily_summary()

    async def tick(self) -> None:
        """One pass of the frequent jobs; each failure is logged and does not stop the others."""
        for job in (self.expire_offers, self.close_idle_chats, self.remind_unanswered):
            try:
                await job()
            except Exception:
                log.exception("Scheduled job %s failed", job.__name__)

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        interval = self.policy.jobs_interval_seconds
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}
        scheduler.add_job(self.tick, "interval", seconds=interval, id="support-tick", **common)
        scheduler.add_job(self.prune_processed_updates, "interval", hours=6, id="prune-updates", **common)
        scheduler.add_job(self.topics_pass, "interval", minutes=TOPICS_PASS_MINUTES, id="topics", **common)
        scheduler.add_job(self.prune_delivered_calls, "interval", hours=6, id="prune-outbox", **common)
        at = parse_clock(self.policy.daily_summary_time)
        scheduler.add_job(self.daily_summary, CronTrigger(hour=at.hour, minute=at.minute, timezone=self.policy.zone),
                          id="daily-summary", **common)


def _as_datetime(value: object) -> dt.datetime | None:
    # SQLite hands back aggregate timestamps as text; PostgreSQL as datetimes.
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _before(marker: dt.datetime | None, moment: dt.datetime) -> bool:
    return marker is None or marker < moment
