"""A visitor's session: started with a secret token, checked on every call, and what their widget reads."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

from models import Attachment, ChatMessage, Manager, VisitorSession, utcnow
from support.contracts import ChatNotFound, InvalidToken, SessionNotFound
from support.events import message_event
from support.hours import is_open, next_opening
from support.store import ChatStore


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Visitors:
    def __init__(self, store: ChatStore) -> None:
        self.store = store

    async def start_session(
        self, *, page_url: str | None = None, locale: str = "ru", name: str | None = None,
        phone: str | None = None,
    ) -> tuple[VisitorSession, str]:
        token = secrets.token_urlsafe(32)
        session = await VisitorSession.aio_create(
            session_id=uuid.uuid4().hex, token_hash=hash_token(token), page_url=page_url, locale=locale,
            name=name, phone=phone,
        )
        return session, token

    async def authenticate(self, session_id: str, token: str | None) -> VisitorSession:
        session = await VisitorSession.aio_get_or_none(VisitorSession.session_id == session_id)
        if session is None:
            raise SessionNotFound(session_id)
        if not token or not hmac.compare_digest(session.token_hash, hash_token(token)):
            raise InvalidToken(session_id)
        return session

    async def events_after(self, session: VisitorSession, after: int, limit: int = 200) -> list[dict[str, Any]]:
        rows = await ChatMessage.select().where(
            (ChatMessage.session == session.id) & (ChatMessage.id > after)
        ).order_by(ChatMessage.id).limit(limit).aio_execute()
        return [message_event(row) for row in rows]

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
            (Attachment.id == attachment_id) & (Attachment.session == session.id))
        if attachment is None:
            raise ChatNotFound(attachment_id)
        return attachment, self.store.files().path_for(attachment.sha256)
