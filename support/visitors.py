"""A visitor's session: started with a secret token, checked on every call, and what their widget reads."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import peewee

from core.config import IdentitySettings
from core.db import PreparedQuery
from models import (
    Attachment,
    ChatMessage,
    Manager,
    SupportChat,
    VisitorIdentity,
    VisitorSession,
    utcnow,
)
from support.assistant import SESSION_LAST, session_last
from support.batching import BatchedReads
from support.context import add_page, sibling_session_ids
from support.contracts import (
    ChatNotFound,
    IdentityConflict,
    IdentityRefused,
    IdentityRequired,
    InvalidToken,
    SessionExpired,
    SessionNotFound,
)
from support.events import message_event
from support.hours import is_open, next_opening
from support.store import Change, ChatStore
from support.topics import Topics

log = logging.getLogger(__name__)
SESSION_TOUCH_INTERVAL = dt.timedelta(hours=1)
OPEN_CHAT_STATUS = "open_chat_status"  # the attribute a session read sets (see open_chat_status())
STATUS_UNKNOWN = "unknown"

# What a widget may show of another device's messages: the text, never the other session's chat state.
# Every widget request reads its session: the same select each time, rendered once.
# With it, the status of the visitor's open support chat (one indexed lookup in the same statement): the relay
# then knows, before the write, whether the AI will have to answer (see open_chat_status).
_OPEN_CHAT_STATUS = SupportChat.open_of(VisitorSession.id, SupportChat.status)
# And the session's newest message (one index seek): the assistant's kept copy of the visitor's AI history is then
# known to be current without reading it (Assistant.prepare).
_SESSION_BY_ID = PreparedQuery(VisitorSession, lambda key: VisitorSession.select(
    VisitorSession, _OPEN_CHAT_STATUS.alias(OPEN_CHAT_STATUS), session_last(VisitorSession.id).alias(SESSION_LAST),
).where(VisitorSession.session_id == key).limit(1))

# A widget socket reads its session and the session's newest event id at once: a client that already has
# everything then needs no replay query. Sockets opening together read theirs in one query (support/batching).
_LAST_EVENT_ID = ChatMessage.select(peewee.fn.MAX(ChatMessage.id)).where(
    ChatMessage.session == VisitorSession.id).alias("last_event_id")


async def _sessions_with_last_event(session_ids: list[str]) -> dict[str, VisitorSession]:
    rows = await VisitorSession.select(VisitorSession, _LAST_EVENT_ID).where(
        VisitorSession.session_id.in_(session_ids)).aio_execute()
    return {row.session_id: row for row in rows}


def open_chat_status(session: VisitorSession) -> str | None:
    """The status of the visitor's open support chat (None: they have none) as last read with the session — by
    the request's own session read, or by the session's last message. A hint, never a rule: the status may have
    changed since (a socket holds its session for long). STATUS_UNKNOWN when no read said."""
    return getattr(session, OPEN_CHAT_STATUS, STATUS_UNKNOWN)  # type: ignore[no-any-return]


def note_open_chat_status(session: VisitorSession, chat: SupportChat | None) -> None:
    """What a write found of the visitor's open chat, for the next message on the same session object."""
    setattr(session, OPEN_CHAT_STATUS, chat.status if chat is not None else None)


_SHARED_KEYS = ("id", "type", "text", "html", "more_html", "author", "created_at", "attachment")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_hash(secret: str, external_id: str) -> str:
    """What the site's server computes: hex HMAC-SHA256 of the user's id under [identity] secret."""
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Visit:
    """What the widget tells about the page it runs on and the browser (all optional)."""

    page_title: str | None = None
    referrer: str | None = None
    user_agent: str | None = None
    tz_offset: int | None = None  # minutes east of UTC
    pages: tuple[tuple[str, str | None], ...] = ()  # pages seen before the session started, oldest first


@dataclass(frozen=True)
class IdentityClaim:
    external_id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    hash: str | None = None


class Visitors:
    def __init__(
        self, store: ChatStore, identity: IdentitySettings | None = None, topics: Topics | None = None
    ) -> None:
        self.store = store
        self.identity = identity or IdentitySettings()
        self.topics = topics
        self._socket_sessions: BatchedReads[str, VisitorSession] = BatchedReads(_sessions_with_last_event)

    async def start_session(
        self, *, page_url: str | None = None, locale: str = "ru", name: str | None = None,
        phone: str | None = None, visit: Visit | None = None,
    ) -> tuple[VisitorSession, str]:
        visit = visit or Visit()
        now = utcnow()
        pages = None
        for url, title in visit.pages:
            pages = add_page(pages, url, title, now)
        if page_url:
            pages = add_page(pages, page_url, visit.page_title, now)
        token = secrets.token_urlsafe(32)
        session = await VisitorSession.aio_create(
            session_id=uuid.uuid4().hex, token_hash=hash_token(token), page_url=page_url, locale=locale,
            name=name, phone=phone, page_title=visit.page_title, referrer=visit.referrer,
            user_agent=visit.user_agent, tz_offset=visit.tz_offset, pages=pages,
        )
        return session, token

    async def visit(self, session: VisitorSession, url: str, title: str | None) -> None:
        """The visitor opened another page of the site: it becomes the current page and joins the list."""
        now = utcnow()
        pages = add_page(session.pages, url, title, now)
        await VisitorSession.update(page_url=url, page_title=title, pages=pages, last_seen_at=now).where(
            VisitorSession.id == session.id).aio_execute()
        session.page_url, session.page_title, session.pages = url, title, pages

    async def identify(self, session: VisitorSession, claim: IdentityClaim) -> bool:
        """Link the session to the site's user; True when verified (their history is then one).

        A wrong hash raises IdentityRefused before anything is written. Without a right hash the id is kept only
        as a claim on this session (shown to managers as unverified, never merged), or refused when
        [identity] required is on.
        """
        secret = self.identity.secret
        verified = False
        if claim.hash and secret:
            if not hmac.compare_digest(claim.hash.strip().lower(), identity_hash(secret, claim.external_id)):
                log.warning("Identify refused for session %s: wrong hash", session.session_id)
                raise IdentityRefused(session.session_id)
            verified = True
        elif self.identity.required:
            raise IdentityRequired(session.session_id)
        contact = {key: value for key, value in (("name", claim.name), ("phone", claim.phone),
                                                  ("email", claim.email)) if value}
        async with self.store.change() as change:
            if not verified:
                if session.identity_id is not None:
                    raise IdentityConflict(session.session_id)
                await VisitorSession.update(claimed_id=claim.external_id, **contact).where(
                    VisitorSession.id == session.id).aio_execute()
                if claim.name:
                    await self._named(change, session)
                return False
            identity = await VisitorIdentity.aio_get_or_none(VisitorIdentity.external_id == claim.external_id)
            if identity is None:
                try:
                    identity = await VisitorIdentity.aio_create(external_id=claim.external_id, **contact)
                except peewee.IntegrityError:  # the same user identified on another device a moment ago
                    identity = await VisitorIdentity.aio_get(VisitorIdentity.external_id == claim.external_id)
            if session.identity_id not in (None, identity.id):
                raise IdentityConflict(session.session_id)
            await VisitorIdentity.update(last_seen_at=utcnow(), **contact).where(
                VisitorIdentity.id == identity.id).aio_execute()
            # A new device learns the name and phone the user gave before; the session's own ones stay if set.
            known = {key: getattr(identity, key) for key in ("name", "phone", "email")
                     if getattr(identity, key) and not getattr(session, key)}
            await VisitorSession.update(identity=identity.id, claimed_id=None, **{**known, **contact}).where(
                VisitorSession.id == session.id).aio_execute()
            for key, value in {**known, **contact}.items():
                setattr(session, key, value)
            if "name" in known or "name" in contact:
                await self._named(change, session)
        session.identity_id = identity.id
        log.info("Visitor session %s verified as %s", session.session_id, claim.external_id)
        return True

    async def _named(self, change: Change, session: VisitorSession) -> None:
        """A name given after the chat was opened: its topics stop saying "Гость #N"."""
        chat = await self.store.open_chat_of(session)
        if chat is not None and self.topics is not None:
            await self.topics.client_named(change, chat)

    async def session_by_id(self, session_id: str) -> VisitorSession:
        """A live session (SessionNotFound, or SessionExpired after `visitor_session_idle_days` without a visit)."""
        return await self._alive(session_id, await _SESSION_BY_ID.first(session_id))

    async def authenticate(self, session_id: str, token: str | None) -> VisitorSession:
        return self._check_token(await self.session_by_id(session_id), token)

    async def session_with_last_event(self, session_id: str, token: str | None = None, *, by_ticket: bool = False
                                      ) -> tuple[VisitorSession, int | None]:
        """For a widget socket, in one read: the live session, authenticated by its token (or already by a
        redeemed ticket), and the id of its newest event (None when other devices' events count too)."""
        session = await self._alive(session_id, await self._socket_sessions.get(session_id))
        if not by_ticket:
            self._check_token(session, token)
        last = None if session.identity_id is not None else int(session.last_event_id or 0)
        return session, last

    @staticmethod
    def _check_token(session: VisitorSession, token: str | None) -> VisitorSession:
        if not token or not hmac.compare_digest(session.token_hash, hash_token(token)):
            raise InvalidToken(session.session_id)
        return session

    async def _alive(self, session_id: str, session: VisitorSession | None) -> VisitorSession:
        if session is None:
            raise SessionNotFound(session_id)
        idle = utcnow() - session.last_seen_at
        if idle > dt.timedelta(days=self.store.policy.visitor_session_idle_days):
            raise SessionExpired(session_id)
        if idle > SESSION_TOUCH_INTERVAL:  # a visit keeps the session alive; one write an hour at most
            await VisitorSession.update(last_seen_at=utcnow()).where(VisitorSession.id == session.id).aio_execute()
        return session

    async def events_after(self, session: VisitorSession, after: int, limit: int = 200) -> list[dict[str, Any]]:
        """This session's events after `after`; a verified visitor's other devices' messages come too (their
        texts and files only: each device keeps its own chat state)."""
        sessions = await sibling_session_ids(session)
        rows = await ChatMessage.select().where(
            ChatMessage.session.in_(sessions) & (ChatMessage.id > after)
        ).order_by(ChatMessage.id).limit(limit).aio_execute()
        events = []
        for row in rows:
            event = message_event(row)
            if row.session_id != session.id:
                event = {key: value for key, value in event.items() if key in _SHARED_KEYS}
            events.append(event)
        return events

    async def state(self, session: VisitorSession) -> dict[str, Any]:
        now, policy = utcnow(), self.store.policy
        hours = {"support_open": is_open(now, policy),
                 "opens_at": next_opening(now, policy).isoformat(timespec="minutes"),
                 "managers_online": bool(await self.store.online_managers())}
        chat = await self.store.open_chat_of(session)
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

    async def attachment_for(self, session: VisitorSession, attachment_id: int) -> tuple[Attachment, Any]:
        """A file of this visitor's chat, and where its bytes are (ChatNotFound for anyone else's)."""
        attachment = await Attachment.aio_get_or_none(
            (Attachment.id == attachment_id) & Attachment.session.in_(await sibling_session_ids(session)))
        if attachment is None:
            raise ChatNotFound(attachment_id)
        return attachment, self.store.files().path_for(attachment.sha256)
