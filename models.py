"""The schema. Every timestamp is naive UTC (`utcnow()`); the API adds the "Z" when it speaks ISO 8601.

Changing a model means writing a migration in migrations/ too: production code never calls create_tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee
from peewee_async import AioModel

database_proxy = peewee.DatabaseProxy()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(AioModel):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class ChatStatus:
    """The support chat lifecycle; only support.lifecycle moves a chat between these."""

    WAITING = "waiting"  # created, no manager has accepted yet (offered or queued)
    ASSIGNED = "assigned"  # a manager accepted it
    CLOSED = "closed"

    OPEN = (WAITING, ASSIGNED)


class CloseReason:
    """Why a chat was closed (SupportChat.close_reason); only support.lifecycle writes it."""

    MANAGER = "manager"  # its manager pressed «Завершить» (the visitor is then asked to rate)
    IDLE = "idle"  # nobody wrote for idle_close_seconds
    API = "api"  # an external system through the chats API

    RATEABLE = (MANAGER,)


class Sender:
    USER = "user"
    AI = "ai"
    MANAGER = "manager"
    SYSTEM = "system"


class Manager(BaseModel):
    telegram_id = peewee.BigIntegerField(unique=True)
    name = peewee.CharField(max_length=255, default="")
    username = peewee.CharField(max_length=64, null=True)
    is_active = peewee.BooleanField(default=True)  # an admin can disable a manager without deleting history
    is_admin = peewee.BooleanField(default=False)
    is_online = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)
    online_since = peewee.DateTimeField(null=True)
    # Routing ties go to whoever has waited longest for a chat.
    last_assigned_at = peewee.DateTimeField(null=True)
    # Offers that expired unanswered in a row; too many and the manager is set offline.
    missed_offers = peewee.IntegerField(default=0)
    # The AI co-pilot's summary and suggested replies for this manager (the desk's switch comes first).
    copilot_enabled = peewee.BooleanField(default=True)
    # What the manager's Telegram app reports (e.g. "en", "ru"); outbox messages to them use its catalog.
    language_code = peewee.CharField(max_length=16, null=True)

    class Meta:
        table_name = "managers"
        indexes = ((("is_online", "is_active"), False),)

    @property
    def display_name(self) -> str:
        return self.name or (f"@{self.username}" if self.username else str(self.telegram_id))


class VisitorIdentity(BaseModel):
    """A site's logged-in user, proven by the site's HMAC of their id: one history across devices."""

    external_id = peewee.CharField(max_length=128, unique=True)  # the site's own user id
    name = peewee.CharField(max_length=100, null=True)
    phone = peewee.CharField(max_length=32, null=True)
    email = peewee.CharField(max_length=255, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_seen_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "visitor_identities"


class VisitorSession(BaseModel):
    """One widget visitor: the browser keeps session_id + token in localStorage."""

    session_id = peewee.CharField(max_length=64, unique=True)
    token_hash = peewee.CharField(max_length=64)
    page_url = peewee.TextField(null=True)
    locale = peewee.CharField(max_length=8, default="ru")
    name = peewee.CharField(max_length=100, null=True)
    phone = peewee.CharField(max_length=32, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_seen_at = peewee.DateTimeField(default=utcnow)
    # Set only by a verified identify (a right HMAC): every session of the identity shares one history.
    identity = peewee.ForeignKeyField(VisitorIdentity, backref="sessions", null=True, on_delete="SET NULL")
    claimed_id = peewee.CharField(max_length=128, null=True)  # an id the site gave without proof (shown, never merged)
    email = peewee.CharField(max_length=255, null=True)
    # Where the visitor came from and what they looked at, for the manager's card (support.context reads them).
    page_title = peewee.CharField(max_length=300, null=True)
    referrer = peewee.TextField(null=True)
    user_agent = peewee.CharField(max_length=512, null=True)
    tz_offset = peewee.SmallIntegerField(null=True)  # minutes east of UTC, as the visitor's browser said
    pages = peewee.TextField(null=True)  # JSON [{"url", "title", "at"}], the latest few, oldest first

    class Meta:
        table_name = "visitor_sessions"


class SupportChat(BaseModel):
    session = peewee.ForeignKeyField(VisitorSession, backref="support_chats", on_delete="CASCADE")
    manager = peewee.ForeignKeyField(Manager, backref="support_chats", null=True, on_delete="SET NULL")
    status = peewee.CharField(max_length=16, default=ChatStatus.WAITING)
    client_name = peewee.CharField(max_length=100, null=True)
    client_phone = peewee.CharField(max_length=32, null=True)
    page_url = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    assigned_at = peewee.DateTimeField(null=True)
    first_response_at = peewee.DateTimeField(null=True)
    last_activity_at = peewee.DateTimeField(default=utcnow)
    closed_at = peewee.DateTimeField(null=True)
    close_reason = peewee.CharField(max_length=16, null=True)  # a CloseReason
    summary = peewee.TextField(null=True)  # what the visitor wants, for the manager (AI-made)
    rating = peewee.SmallIntegerField(null=True)  # 1..5 from the visitor after a manager closed the chat
    rating_comment = peewee.TextField(null=True)
    offered_at = peewee.DateTimeField(null=True)  # first offer sent: the accept timeout counts from here
    # Who routing offered it to: a pending offer counts towards that manager's load.
    offered_manager = peewee.ForeignKeyField(Manager, null=True, on_delete="SET NULL", backref="offers")
    broadcast_at = peewee.DateTimeField(null=True)  # offered to every online manager after the timeout
    idle_warned_at = peewee.DateTimeField(null=True)
    reminded_at = peewee.DateTimeField(null=True)  # SLA reminder to the manager
    admins_reminded_at = peewee.DateTimeField(null=True)  # SLA escalation to the admins
    transfer_note = peewee.TextField(null=True)
    queue_position = peewee.IntegerField(null=True)  # last position told to the visitor
    # client_phone reduced to its national digits (support.search.phone_key), so any format finds it.
    phone_key = peewee.CharField(max_length=16, null=True, index=True)

    @classmethod
    def open_of(cls, session: Any, *columns: Any) -> peewee.ModelSelect:
        """The visitor's open support chat (a session has at most one): a select of `columns`, the whole row by
        default. `session` is a session's id or a column (a subquery correlated with visitor_sessions)."""
        return cls.select(*columns).where((cls.session == session) & cls.status.in_(ChatStatus.OPEN)).limit(1)

    class Meta:
        table_name = "support_chats"
        indexes = (
            (("status", "created_at"), False),
            (("status", "last_activity_at"), False),
            (("manager", "status"), False),
            (("session", "status"), False),
        )


class ChatMessage(BaseModel):
    """Every message of a session, AI era and manager era alike; its id is the widget's event id."""

    session = peewee.ForeignKeyField(VisitorSession, backref="messages", on_delete="CASCADE")
    support_chat = peewee.ForeignKeyField(SupportChat, backref="messages", null=True, on_delete="SET NULL")
    sender = peewee.CharField(max_length=16)
    manager = peewee.ForeignKeyField(Manager, null=True, on_delete="SET NULL")
    author_name = peewee.CharField(max_length=255, null=True)
    text = peewee.TextField()
    # The widget's own id for a message typed offline, so a resend after reconnection is stored once.
    client_message_id = peewee.CharField(max_length=64, null=True)
    # A manager's message as Telegram numbers it in their chat with the bot, so their edit there finds it.
    telegram_message_id = peewee.BigIntegerField(null=True)
    # A manager's message made by a button (a template picked): the press, so a redelivery stores it once.
    telegram_callback_id = peewee.CharField(max_length=64, null=True, unique=True)
    edited_at = peewee.DateTimeField(null=True)
    # JSON, read by support.events.message_event: for a file {"attachment": {...}}; for an AI answer
    # {"confident", "topics"}; for a system message what the widget acts on: "status" (a ChatStatus),
    # "manager", "queued", "after_hours", "position"/"eta_minutes", "offer_manager", "rate" (a chat id).
    meta = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    # PostgreSQL: the id of the session's message before this one, set by the event-order trigger under the
    # session's lock (migrations 007, 015); a process hands this row to its sockets from memory when they have
    # had that one. Empty on SQLite (one writer: rows reach the sockets in id order anyway).
    previous_event_id = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "chat_messages"
        indexes = (
            (("session", "id"), False),
            (("support_chat", "id"), False),
            (("session", "client_message_id"), True),
            # A redelivered Telegram update finds the manager's message it already stored (support.relay).
            (("manager", "telegram_message_id"), True),
        )


class OutboxStatus:
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # Telegram refused it for good (blocked bot, bad request); kept for the record
    # The call is on its way: if the process dies now nobody knows whether Telegram got it. The next start
    # sends it again, once, marked as a repeat (delivery is at least once, never silently twice).
    SENDING = "sending"


class Outbox(BaseModel):
    """Bot API calls that must not be lost: written in the same transaction as their cause, sent later."""

    chat_id = peewee.BigIntegerField()
    method = peewee.CharField(max_length=64)
    payload = peewee.TextField()  # JSON of the method's parameters
    purpose = peewee.CharField(max_length=32, default="notice")
    # Lower goes first within a Telegram chat and for the bot's shared budget (support.outbox.Priority).
    priority = peewee.SmallIntegerField(default=1)
    # A text relay that may share one Telegram message with the relays queued next to it (JSON), or NULL.
    coalesce = peewee.TextField(null=True)
    support_chat = peewee.ForeignKeyField(SupportChat, null=True, on_delete="SET NULL")
    # For edits: the outbox row whose Telegram message this call edits (its message_id is known only later).
    edits = peewee.ForeignKeyField("self", null=True, on_delete="SET NULL")
    # A call meant for a chat's topic: the thread id is filled in when delivered (or dropped in flat mode).
    topic = peewee.DeferredForeignKey("ChatTopic", null=True, on_delete="SET NULL")
    status = peewee.CharField(max_length=16, default=OutboxStatus.PENDING)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DateTimeField(default=utcnow)
    last_error = peewee.TextField(null=True)
    telegram_message_id = peewee.BigIntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "outbox"
        indexes = (
            (("status", "next_attempt_at"), False),
            (("chat_id", "telegram_message_id"), False),
            (("support_chat", "purpose"), False),
            (("status", "chat_id", "priority"), False),
        )


class ProcessedUpdate(BaseModel):
    """A Telegram update being handled (claimed, with a lease its holder renews) or handled (processed_at).

    A redelivery of a handled update does nothing; one whose holder died (the lease ran out) is handled again."""

    update_id = peewee.BigIntegerField(primary_key=True)
    processed_at = peewee.DateTimeField(null=True)  # set once its handler finished
    claimed_by = peewee.CharField(max_length=64, null=True)  # the handling attempt (bot.middlewares)
    claimed_at = peewee.DateTimeField(null=True)  # renewed while the attempt lives

    class Meta:
        table_name = "processed_updates"


class FsmState(BaseModel):
    """aiogram FSM storage, so a manager's reply mode survives a restart."""

    key = peewee.CharField(max_length=255, primary_key=True)
    state = peewee.CharField(max_length=255, null=True)
    data = peewee.TextField(default="{}")

    class Meta:
        table_name = "fsm_states"


class AuditLog(BaseModel):
    """Who changed what in the team (admin actions), for the record."""

    actor_telegram_id = peewee.BigIntegerField()
    action = peewee.CharField(max_length=64)
    target = peewee.CharField(max_length=255, default="")
    details = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "audit_log"


class ChatParticipant(BaseModel):
    """A colleague the chat's manager invited in: they see the client's messages and may answer too."""

    support_chat = peewee.ForeignKeyField(SupportChat, backref="participants", on_delete="CASCADE")
    manager = peewee.ForeignKeyField(Manager, backref="joined_chats", on_delete="CASCADE")
    joined_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "chat_participants"
        indexes = ((("support_chat", "manager"), True),)


class TopicState:
    """A chat's topic in one manager's private chat with the bot (support.topics alone moves these)."""

    CREATING = "creating"  # createForumTopic is queued; calls for it wait behind it in the chat's queue
    OPEN = "open"
    CLOSED = "closed"  # renamed "✅ …"; deleted later if the desk says so
    FLAT = "flat"  # the topic is gone or topics are off: this chat's messages go to the general thread
    DELETED = "deleted"


class ChatTopic(BaseModel):
    """One support chat's topic in one manager's private chat (the owner's, and each invited colleague's)."""

    support_chat = peewee.ForeignKeyField(SupportChat, backref="topics", on_delete="CASCADE")
    manager = peewee.ForeignKeyField(Manager, backref="topics", on_delete="CASCADE")
    telegram_chat_id = peewee.BigIntegerField()
    thread_id = peewee.BigIntegerField(null=True)  # known once Telegram created it
    state = peewee.CharField(max_length=16, default=TopicState.CREATING)
    name = peewee.CharField(max_length=128)  # as last asked of Telegram: a rename is sent only on a change
    # The outbox row of the card that opens the topic (edited in place as the chat changes).
    card = peewee.ForeignKeyField(Outbox, null=True, on_delete="SET NULL")
    warned_flat = peewee.BooleanField(default=False)  # the manager was told once that the topic is gone
    created_at = peewee.DateTimeField(default=utcnow)
    delete_after = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "chat_topics"
        indexes = (
            (("support_chat", "manager"), True),
            (("telegram_chat_id", "thread_id"), False),
            (("state", "delete_after"), False),
        )


class AcceptButton(BaseModel):
    """A details message that still shows «✅ Принять чат» for a waiting chat: once the chat is taken (or closed)
    support.lifecycle queues an edit that drops the button, then forgets the row. The page and page count are
    the ones the message shows, so its other buttons are drawn again as they were."""

    support_chat = peewee.ForeignKeyField(SupportChat, on_delete="CASCADE")
    telegram_chat_id = peewee.BigIntegerField()
    message_id = peewee.BigIntegerField()
    page = peewee.IntegerField(default=0)
    pages = peewee.IntegerField(default=1)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "accept_buttons"
        indexes = ((("telegram_chat_id", "message_id"), True),)


class Attachment(BaseModel):
    """A file sent in a chat (a visitor's document photo, a manager's PDF); the bytes live on disk by hash."""

    session = peewee.ForeignKeyField(VisitorSession, backref="attachments", on_delete="CASCADE")
    filename = peewee.CharField(max_length=255)
    content_type = peewee.CharField(max_length=100)
    size = peewee.IntegerField()
    sha256 = peewee.CharField(max_length=64)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "attachments"


class QueuedDelivery(BaseModel):
    """What every persisted delivery queue row carries (support/delivery.py sends them): its state and retries.
    Not a table of its own: the CRM deliveries and the transcript emails are."""

    status = peewee.CharField(max_length=16, default=OutboxStatus.PENDING)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DateTimeField(default=utcnow)
    last_error = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)


class IntegrationDelivery(QueuedDelivery):
    """One event for one external system (a CRM's webhook): stored with its cause, delivered with retries."""

    url = peewee.TextField()
    event = peewee.CharField(max_length=64)
    payload = peewee.TextField()  # the JSON body, exactly as signed and sent

    class Meta:
        table_name = "integration_deliveries"
        indexes = ((("status", "next_attempt_at"), False),)


class IntegrationEvent(BaseModel):
    """Every event for external systems, once: the live events socket (webhook/events_ws.py) replays them after an
    id. Written only while the chats API is on ([integrations] api_keys)."""

    event = peewee.CharField(max_length=64)
    payload = peewee.TextField()  # the JSON body, the same as each webhook delivery's
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "integration_events"


class GreetingRule(BaseModel):
    """A proactive greeting an admin set up: shown by the widget on matching pages after a delay."""

    url_pattern = peewee.CharField(max_length=500, default="*")  # shell-style: * and ?, path or full URL
    delay_seconds = peewee.IntegerField(default=10)
    first_visit_only = peewee.BooleanField(default=False)
    working_hours_only = peewee.BooleanField(default=False)
    open_on_desktop = peewee.BooleanField(default=False)
    text = peewee.TextField()
    is_active = peewee.BooleanField(default=True)
    created_by = peewee.BigIntegerField(null=True)  # the admin's Telegram id
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "greeting_rules"


class GreetingShow(BaseModel):
    """One greeting shown to one visitor on one day (the unique index is the once-a-day rule), and what came of it."""

    rule = peewee.ForeignKeyField(GreetingRule, backref="shows", on_delete="CASCADE")
    visitor = peewee.CharField(max_length=64)  # the widget's own visitor id (it may have no chat session yet)
    day = peewee.CharField(max_length=10)  # YYYY-MM-DD in the support time zone
    shown_at = peewee.DateTimeField(default=utcnow)
    opened_at = peewee.DateTimeField(null=True)
    chatted_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "greeting_shows"
        indexes = ((("rule", "visitor", "day"), True), (("shown_at",), False))


class EmailDelivery(QueuedDelivery):
    """One transcript email waiting for SMTP, or sent (support/mailer.py delivers the queue). The body is made
    when it is sent, so a transcript asked for at closing time has the closing message in it too."""

    recipient = peewee.CharField(max_length=320)
    session = peewee.ForeignKeyField(VisitorSession, on_delete="CASCADE")
    support_chat = peewee.ForeignKeyField(SupportChat, null=True, on_delete="CASCADE")  # None: the whole session
    locale = peewee.CharField(max_length=8, default="ru")

    class Meta:
        table_name = "email_deliveries"
        indexes = ((("status", "next_attempt_at"), False),)


class SuggestionStatus:
    PENDING = "pending"  # shown to the manager, not acted on
    SENT = "sent"  # the manager tapped «Отправить»: it went to the visitor as their message
    DISMISSED = "dismissed"  # the manager tapped «✖»


class CopilotSuggestion(BaseModel):
    """A reply the AI co-pilot drafted for a manager; it reaches the visitor only when the manager sends it."""

    support_chat = peewee.ForeignKeyField(SupportChat, backref="suggestions", on_delete="CASCADE")
    manager = peewee.ForeignKeyField(Manager, backref="suggestions", on_delete="CASCADE")
    # The visitor's message it answers.
    reply_to = peewee.ForeignKeyField(ChatMessage, null=True, on_delete="SET NULL")
    text = peewee.TextField()  # Markdown, as a manager's reply is stored
    status = peewee.CharField(max_length=16, default=SuggestionStatus.PENDING)
    created_at = peewee.DateTimeField(default=utcnow)
    decided_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "copilot_suggestions"
        indexes = ((("support_chat", "status"), False),)


class ReplyTemplate(BaseModel):
    """A saved reply admins keep for managers; {name}, {manager} and {chat} are filled per chat."""

    title = peewee.CharField(max_length=64)
    text = peewee.TextField()
    created_by = peewee.BigIntegerField()  # the admin's Telegram ID
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "reply_templates"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Manager,
    VisitorIdentity,
    VisitorSession,
    SupportChat,
    ChatMessage,
    Outbox,
    ProcessedUpdate,
    FsmState,
    AuditLog,
    IntegrationDelivery,
    Attachment,
    ChatParticipant,
    IntegrationEvent,
    GreetingRule,
    GreetingShow,
    EmailDelivery,
    ChatTopic,
    CopilotSuggestion,
    ReplyTemplate,
    AcceptButton,
)


def bind_database(db: Any) -> None:
    database_proxy.initialize(db)
