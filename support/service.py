"""The chat service, assembled: one store under the use cases, wired once for the whole process.

Callers name the use case they need: `service.relay.visitor_message(...)`, `service.lifecycle.accept(...)`,
`service.queries.chat_card(...)`. Each module's docstring says what it owns; support/lifecycle.py alone changes
a chat's status and a manager's availability.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import peewee_async
from aiohttp import web

from ai import Consultant
from core.config import EmailSettings, IdentitySettings, SupportSettings
from models import Outbox
from support.assistant import Assistant
from support.attachments import AttachmentStore
from support.colleagues import Colleagues
from support.contracts import ManagerChannel
from support.copilot import Copilot, CopilotView
from support.delivery import DeliveryWorker
from support.events import EventHub
from support.greetings import Greetings
from support.integrations import IntegrationSink
from support.lifecycle import Lifecycle
from support.queries import Queries
from support.relay import Relay
from support.reminders import Reminders
from support.routing import Routing
from support.store import ChatStore
from support.team import TeamService
from support.templates import Templates
from support.topics import TopicChannel, Topics
from support.transcripts import Transcripts
from support.visitors import Visitors

log = logging.getLogger("support")


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
        outbox_worker: DeliveryWorker | None = None,
        auto_handoff: bool = False,
        stream_ai: bool = False,
        integrations: IntegrationSink | None = None,
        integration_worker: DeliveryWorker | None = None,
        attachments: AttachmentStore | None = None,
        identity: IdentitySettings | None = None,
        email: EmailSettings | None = None,
        topic_channel: TopicChannel | None = None,
        topic_delete_after_days: int = 0,
        copilot_view: CopilotView | None = None,
    ) -> None:
        self.store = ChatStore(
            db, hub=hub, channel=channel, policy=policy or SupportSettings(), admin_ids=admin_ids,
            outbox_worker=outbox_worker,
            integrations=integrations, integration_worker=integration_worker, attachments=attachments,
        )
        # Without a topic channel (tests of the service alone) topics never open: flat mode. The bot's side
        # (getMe, creating a topic at once, chat actions) is wired onto self.topics by the product.
        self.topics = Topics(self.store, topic_channel, delete_after_days=topic_delete_after_days)
        self.store.topics = self.topics
        self.routing = Routing(self.store)
        self.assistant = Assistant(self.store, consultant, stream=stream_ai)
        self.lifecycle = Lifecycle(self.store, self.routing, self.topics, summarize=self.assistant.summary)
        self.relay = Relay(self.store, self.lifecycle, self.assistant, self.topics, auto_handoff=auto_handoff)
        self.copilot = Copilot(self.store, self.assistant, self.relay, copilot_view, self.topics)
        self.lifecycle.on_taken.append(self.copilot.on_taken)
        self.relay.on_visitor_message.append(self.copilot.visitor_wrote)
        self.templates = Templates()
        self.colleagues = Colleagues(self.store, self.lifecycle, self.topics)
        self.reminders = Reminders(self.store, self.topics)
        self.visitors = Visitors(self.store, identity, self.topics)
        self.queries = Queries(self.store)
        self.greetings = Greetings(self.store)
        email = email or EmailSettings()
        self.transcripts = Transcripts(self.store, enabled=email.enabled, admin_recipients=email.transcripts_to)
        if email.enabled and email.transcripts_to:
            self.store.close_hooks.append(self.transcripts.chat_closed)
        self.team = TeamService(db, admin_ids=admin_ids, manager_ids=manager_ids, lifecycle=self.lifecycle)

    @property
    def policy(self) -> SupportSettings:
        return self.store.policy

    @policy.setter
    def policy(self, policy: SupportSettings) -> None:
        self.store.policy = policy  # every use case reads it from the store, so a change reaches them all

    @property
    def attachments(self) -> AttachmentStore | None:
        return self.store.attachments

    async def drain(self) -> None:
        """Let AI answers and co-pilot drafts in flight finish (shutdown)."""
        await self.relay.drain()
        await self.copilot.drain()


# The aiohttp application carries the service under this key (widget/ and webhook/ handlers read it).
SERVICE = web.AppKey("service", SupportService)


async def log_delivery(row: Outbox, result: object) -> None:
    """The seed's monitoring lines, written when Telegram has really taken the message."""
    if row.purpose == "offer":
        log.info("✅ Менеджер %s уведомлен о новом чате %s", row.chat_id, row.support_chat_id)
    elif row.purpose == "relay":
        log.info("✅ Сообщение от веб-клиента переслано менеджеру %s", row.chat_id)
