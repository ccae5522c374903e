"""What the chat service promises the rooms: its errors, the views it hands out, and what it needs from them
(how managers are messaged; the AI consultant's protocol is ai.Consultant)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from models import AcceptButton, Outbox
from support.outbox import OutgoingCall

# --- errors the rooms translate into HTTP codes or polite bot replies -------------------------------


class SupportError(Exception):
    code = "error"


class SessionNotFound(SupportError):
    code = "session_not_found"


class InvalidToken(SupportError):
    code = "invalid_token"


class SessionExpired(SupportError):
    code = "session_expired"


class ChatNotFound(SupportError):
    code = "chat_not_found"


class NotAllowed(SupportError):
    code = "forbidden"


class ChatAlreadyTaken(SupportError):
    code = "already_taken"

    def __init__(self, manager_name: str) -> None:
        super().__init__(manager_name)
        self.manager_name = manager_name


class ChatClosed(SupportError):
    code = "chat_closed"


class AlreadyRated(SupportError):
    code = "already_rated"


class IdentityRefused(SupportError):
    """The site's hash for this visitor's id is wrong: nothing is stored or merged."""

    code = "invalid_identity"


class IdentityRequired(SupportError):
    """[identity] required = true and the visitor brought no hash (or the desk has no secret to check it)."""

    code = "identity_required"


class IdentityConflict(SupportError):
    """This widget session already belongs to another verified visitor (the site's user changed)."""

    code = "identity_conflict"


# --- what the rooms get back --------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One step of the visitor's talk with the AI: a question and the AI's answer (either may be missing)."""

    question: str | None
    answer: str | None


@dataclass(frozen=True)
class ChatCard:
    """Everything a manager-facing message about a chat needs, already read from the database."""

    chat_id: int
    session_id: str
    status: str
    client_name: str | None
    client_phone: str | None
    page_url: str | None
    created_at: Any
    manager_name: str | None
    manager_telegram_id: int | None
    recent_exchanges: tuple[Exchange, ...] = ()  # the last few, oldest first; Markdown as stored
    message_count: int = 0
    summary: str | None = None
    colleague_telegram_ids: tuple[int, ...] = ()  # managers invited into the chat (a group chat)
    context: VisitorContext | None = None  # where the visitor came from and who they are
    visitor_locale: str | None = None  # the widget's language (None: the desk's default) for texts filled in
    # for the visitor, such as a reply template

    def works_on(self, telegram_id: int) -> bool:
        """The chat's manager or an invited colleague: may answer the client."""
        return telegram_id == self.manager_telegram_id or telegram_id in self.colleague_telegram_ids


@dataclass(frozen=True)
class PastChat:
    chat_id: int
    created_at: Any
    status: str
    summary: str | None


@dataclass(frozen=True)
class VisitorContext:
    """What the widget told about the visitor (support/context.py reads it from the session)."""

    verified: bool = False  # a right HMAC of the site's user id (support.visitors.Visitors.identify)
    external_id: str | None = None  # the site's user id, verified or only claimed
    email: str | None = None
    page_title: str | None = None
    referrer: str | None = None
    utm: tuple[tuple[str, str], ...] = ()
    pages: tuple[tuple[str, str | None], ...] = ()  # (url, title), oldest first
    device: str | None = None  # "Android · Chrome 120"
    local_time: Any = None  # the visitor's wall clock now (naive), from their timezone offset
    tz_offset: int | None = None  # minutes east of UTC
    earlier_chats: tuple[PastChat, ...] = ()  # this visitor's other chats, newest first

    @property
    def returning(self) -> bool:
        return bool(self.earlier_chats)


@dataclass(frozen=True)
class HistoryEntry:
    sender: str
    author: str | None
    text: str
    created_at: Any


@dataclass(frozen=True)
class TeamMember:
    telegram_id: int
    name: str
    online: bool
    active: bool
    admin: bool
    active_chats: int


@dataclass(frozen=True)
class DailySummary:
    day: Any
    figures: Any  # support.stats.Figures for today
    waiting: int  # chats waiting for a manager right now


@dataclass(frozen=True)
class TransferResult:
    status: str  # assigned | waiting | queued
    support_chat_id: int


class ManagerChannel(Protocol):
    """How manager-facing messages look in Telegram; implemented by bot.render.TelegramManagerChannel."""

    def offer(self, card: ChatCard, manager_telegram_id: int) -> OutgoingCall: ...

    def offer_taken(self, card: ChatCard, offer: Outbox, *, winner: bool) -> OutgoingCall: ...

    def accept_gone(self, card: ChatCard, button: AcceptButton, *, winner: bool) -> OutgoingCall:
        """A details message's buttons once its «✅ Принять чат» is stale (the chat was taken or closed)."""

    def queued_alert(self, card: ChatCard, admin_telegram_id: int) -> OutgoingCall: ...

    def visitor_message(self, card: ChatCard, manager_telegram_id: int, text: str) -> list[OutgoingCall]: ...

    def visitor_file(
        self, card: ChatCard, manager_telegram_id: int, attachment: Any, caption: str | None
    ) -> OutgoingCall: ...

    def lead_alert(self, card: ChatCard, admin_telegram_id: int) -> OutgoingCall: ...

    def invitation(self, card: ChatCard, colleague_telegram_id: int, from_name: str) -> OutgoingCall: ...

    def closed_elsewhere(self, card: ChatCard, manager_telegram_id: int, by: str) -> OutgoingCall: ...

    def colleague_joined(self, card: ChatCard, manager_telegram_id: int, colleague_name: str) -> OutgoingCall: ...

    def colleague_said(
        self, card: ChatCard, manager_telegram_id: int, colleague_name: str, text: str
    ) -> OutgoingCall: ...

    def offer_expired(self, card: ChatCard, offer: Outbox, timeout_seconds: int) -> OutgoingCall: ...

    def set_offline_for_missing(self, manager_telegram_id: int, missed: int) -> OutgoingCall: ...

    def admin_notice_missed(self, admin_telegram_id: int, manager_name: str, missed: int) -> OutgoingCall: ...

    def transferred(
        self, card: ChatCard, manager_telegram_id: int, from_name: str, note: str | None
    ) -> OutgoingCall: ...

    def idle_closed(self, card: ChatCard, manager_telegram_id: int) -> OutgoingCall: ...

    def sla_reminder(self, card: ChatCard, manager_telegram_id: int, minutes: int) -> OutgoingCall: ...

    def sla_alert(self, card: ChatCard, admin_telegram_id: int, minutes: int) -> OutgoingCall: ...

    def rating(self, card: ChatCard, manager_telegram_id: int, rating: int, comment: str | None) -> OutgoingCall: ...

    def daily_summary(self, summary: DailySummary, admin_telegram_id: int) -> OutgoingCall: ...

