"""The AI consultant's part in a chat: answering a visitor until a person takes over, offering that person
when it cannot help, and summing up the conversation for the manager."""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from enum import Enum

from ai import AIAnswer, Consultant, HandoffAdvisor, Turn, wants_human
from models import ChatMessage, ChatStatus, Sender, VisitorSession
from support.store import ChatStore
from support.texts import visitor_text

log = logging.getLogger("support")

AI_HISTORY_TURNS = 12
SUMMARY_TIMEOUT_SECONDS = 8


class Needs(Enum):
    """What the visitor needs after the AI's turn, beyond its answer."""

    NOTHING = "nothing"
    ASKED_FOR_PERSON = "asked"  # they asked for a person in so many words
    NOT_ANSWERED = "not_answered"  # the AI missed several questions in a row


class Assistant:
    def __init__(self, store: ChatStore, consultant: Consultant, *, stream: bool = False) -> None:
        self.store = store
        self.consultant = consultant
        # Streaming pieces to the widget only pays off for a model that generates slowly.
        self.stream = stream
        self.advisor = HandoffAdvisor()
        # One AI answer at a time per visitor, in order; a lock lives only while someone holds or awaits it.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def answer(self, session: VisitorSession, question: ChatMessage) -> Needs:
        """Answer the visitor's stored question (unless a manager has the chat meanwhile)."""
        lock = self._locks.get(session.id)
        if lock is None:
            lock = self._locks[session.id] = asyncio.Lock()
        async with lock:
            if wants_human(question.text) and await self.store.open_chat_of(session) is None:
                return Needs.ASKED_FOR_PERSON
            history = await self.history(session, before=question.id)
            answer = await self._generate(session, question, history)
            # Once a manager has the chat the AI stays silent for good (it may help while the visitor waits).
            chat = await self.store.open_chat_of(session)
            if chat is not None and not (chat.status == ChatStatus.WAITING and self.store.policy.ai_while_waiting):
                return Needs.NOTHING
            async with self.store.change() as change:
                await ChatMessage.aio_create(
                    session=session.id, sender=Sender.AI, text=answer.text, support_chat=chat.id if chat else None,
                    meta=json.dumps({"confident": answer.confident, "topics": list(answer.topics),
                                     **({"more": answer.more} if answer.more else {}),
                                     **({"chips": list(answer.chips)} if answer.chips else {})}, ensure_ascii=False),
                )
                change.wake(session.id)
            if chat is not None:
                return Needs.NOTHING  # waiting for a manager already: no need to offer one
            if answer.confident:
                return Needs.NOTHING  # an answered question ends any streak of misses: nothing to read
            recent = await ChatMessage.select(ChatMessage.meta).where(
                (ChatMessage.session == session.id) & (ChatMessage.sender == Sender.AI)
            ).order_by(ChatMessage.id.desc()).limit(self.advisor.misses_in_a_row + 1).aio_execute()
            confident = [json.loads(row.meta or "{}").get("confident", True) for row in reversed(recent)]
            # Offer once per streak of misses: at the miss that completes it, not after every later one.
            if self.advisor.advise(confident).offer and not self.advisor.advise(confident[:-1]).offer:
                return Needs.NOT_ANSWERED
            return Needs.NOTHING

    def quick_replies(self, locale: str) -> list[str]:
        """The questions the widget offers as chips when it opens; none rather than a broken start."""
        try:
            return list(self.consultant.quick_replies(locale))
        except Exception:
            log.exception("No quick replies from the AI consultant")
            return []

    async def offer_manager(self, session: VisitorSession, needs: Needs) -> None:
        """Show the visitor the «talk to a person» offer (unless they already have a support chat)."""
        if await self.store.open_chat_of(session) is not None:
            return
        async with self.store.change() as change:
            await change.system_message(session, None, visitor_text("offer_manager", session.locale),
                                        {"offer_manager": True, "reason": needs.value})

    async def summary(self, session: VisitorSession) -> str | None:
        """Two lines on what the visitor wants, for the manager; never holds up the handoff for long."""
        history = await self.history(session)
        if not history:
            return None
        try:
            return await asyncio.wait_for(self.consultant.summarize(history, locale=session.locale),
                                          timeout=SUMMARY_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("No summary for session %s: %s", session.session_id, exc)
            return None

    async def history(self, session: VisitorSession, *, before: int | None = None) -> list[Turn]:
        query = ChatMessage.select().where(
            (ChatMessage.session == session.id) & ChatMessage.sender.in_((Sender.USER, Sender.AI))
        )
        if before is not None:
            query = query.where(ChatMessage.id < before)
        rows = await query.order_by(ChatMessage.id.desc()).limit(AI_HISTORY_TURNS).aio_execute()
        return [Turn(role="user" if row.sender == Sender.USER else "assistant", text=row.text)
                for row in reversed(rows)]

    async def _generate(self, session: VisitorSession, question: ChatMessage, history: list[Turn]) -> AIAnswer:
        hub = self.store.hub
        hub.publish_ephemeral(session.id, {"type": "typing", "author": "ai", "active": True})
        pieces: list[str] = []
        try:
            stream = self.consultant.stream(question.text, history, locale=session.locale)
            async for piece in stream:
                pieces.append(piece)
                if self.stream:
                    hub.publish_ephemeral(session.id, {"type": "ai_delta", "reply_to": question.id, "text": piece})
            result = getattr(stream, "result", None)
            return result if isinstance(result, AIAnswer) else AIAnswer("".join(pieces), bool(pieces))
        except Exception:
            log.exception("AI consultant failed for session %s", session.session_id)
            return AIAnswer(visitor_text("ai_unavailable", session.locale), confident=False)
        finally:
            hub.publish_ephemeral(session.id, {"type": "typing", "author": "ai", "active": False})
