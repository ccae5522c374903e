"""The AI consultant's part in a chat: answering a visitor until a person takes over, offering that person
when it cannot help, and summing up the conversation for the manager."""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import Any

import peewee

from ai import AIAnswer, Consultant, HandoffAdvisor, Turn, wants_human
from core.db import PreparedQuery
from models import ChatMessage, ChatStatus, Sender, SupportChat, VisitorSession
from support.store import Change, ChatStore
from support.texts import visitor_text

log = logging.getLogger("support")

AI_HISTORY_TURNS = 12
NO_LATER_THAN = 2**62  # `before` for a history that ends with the latest row
HISTORY_SENDERS = (Sender.USER, Sender.AI)  # the rows the AI's history is made of
SUMMARY_TIMEOUT_SECONDS = 8
HISTORIES_KEPT = 4096  # visitors whose latest history this process keeps (the least recently asked go first)
# The attribute a session read sets (support.visitors): the id of the session's newest message.
SESSION_LAST = "session_last"


def session_last(session: Any) -> peewee.SelectQuery:
    """The id of the newest message of the visitor's session, of any sender (a subquery; `session` may be a
    column): one index seek on (session, id)."""
    return ChatMessage.select(peewee.fn.MAX(ChatMessage.id)).where(ChatMessage.session == session)


# Read before every AI answer: the same select each time, rendered once. With it, in the same statement, the
# session's newest message (see KeptHistory).
_HISTORY = PreparedQuery(ChatMessage, lambda session, before: ChatMessage.select(
    ChatMessage.sender, ChatMessage.text, session_last(session).alias("last"),
).where(
    (ChatMessage.session == session) & ChatMessage.sender.in_((Sender.USER, Sender.AI)) & (ChatMessage.id < before)
).order_by(ChatMessage.id.desc()).limit(AI_HISTORY_TURNS))


def _turn(sender: str, text: str) -> Turn:
    """A history row (the visitor's or the AI's) as the consultant reads it."""
    return Turn(role="user" if sender == Sender.USER else "assistant", text=text)


@dataclass(frozen=True)
class KeptHistory:
    """A visitor's latest history as this process last read or wrote it: true while their session's newest message
    is `last`. A session's messages are never deleted once committed and its ids grow in commit order (one writer
    on SQLite, migration 007 on PostgreSQL), so any message written since, by anyone, has a higher id."""

    last: int | None  # None: no message yet
    turns: tuple[Turn, ...]


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
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._kept: OrderedDict[int, KeptHistory] = OrderedDict()

    @property
    def answers_inline(self) -> bool:
        """True for a consultant that answers at once (the offline knowledge base, not streamed): the visitor's
        request then stores its question and the answer in one transaction (see Relay.visitor_message). A remote
        model answers after the question is committed, so a slow model never holds the visitor's message back.
        Read on the consultant's class: a wrapper that delegates attributes (a slower stand-in) is not instant
        unless it says so itself."""
        return bool(getattr(type(self.consultant), "instant", False)) and not self.stream

    def turn(self, session: VisitorSession) -> asyncio.Lock:
        """One AI turn at a time per visitor, in order; a lock lives only while someone holds or awaits it."""
        lock = self._locks.get(session.id)
        if lock is None:
            lock = self._locks[session.id] = asyncio.Lock()
        return lock

    def may_answer(self, chat: SupportChat | None) -> bool:
        """Once a manager has the chat the AI stays silent for good (it may help while the visitor waits)."""
        return self.may_answer_in(chat.status if chat is not None else None)

    def may_answer_in(self, status: str | None) -> bool:
        """may_answer() for a chat known by its status alone (None: the visitor has no open support chat)."""
        return status is None or (status == ChatStatus.WAITING and self.store.policy.ai_while_waiting)

    @staticmethod
    def asked_for_person(chat: SupportChat | None, text: str) -> bool:
        """They asked for a person in so many words, and have no support chat yet: no AI answer then."""
        return chat is None and wants_human(text)

    async def answer(self, session: VisitorSession, question: ChatMessage) -> Needs:
        """Answer the visitor's stored question (unless a manager has the chat meanwhile)."""
        async with self.turn(session):
            if wants_human(question.text) and await self.store.open_chat_of(session) is None:
                return Needs.ASKED_FOR_PERSON
            history = await self.history(session, before=question.id)
            answer = await self._generate(session, question.text, history, reply_to=question.id)
            chat = await self.store.open_chat_of(session)
            if not self.may_answer(chat):
                return Needs.NOTHING
            async with self.store.change() as change:
                await self.store_answer(change, session, chat, answer)
            return await self.needs_after(session, chat, answer)

    async def prepare(self, session: VisitorSession, text: str) -> AIAnswer:
        """The answer to a question not stored yet (the inline path, under `turn`): the history read now is the
        one the stored question would follow, since this visitor's questions and answers are written in turns."""
        history = await self._latest_history(session)
        # Nothing to show "typing" for: the answer is ready before the question is even stored.
        return await self._generate(session, text, history, typing=False)

    async def _latest_history(self, session: VisitorSession) -> list[Turn]:
        """The history a read would give now: the one kept from this visitor's last turn when the session's own
        read (this request's) says their history is still that one, else read (and kept)."""
        kept = self._kept.get(session.id)
        if kept is not None and getattr(session, SESSION_LAST, None) == kept.last:
            self._kept.move_to_end(session.id)
            return list(kept.turns)
        rows = await _HISTORY.tuples(session.id, NO_LATER_THAN)
        turns = [_turn(sender, text) for sender, text, _ in reversed(rows)]
        # No row: no message of the visitor's or the AI's, but the session may hold others (kept unknown then).
        if rows:
            self._keep(session.id, KeptHistory(int(rows[0][2]), tuple(turns)))
        return turns

    def written(self, session: VisitorSession, question: ChatMessage, answer: ChatMessage | None) -> None:
        """A question (and its answer) of the visitor committed, and nothing else in their session by the same
        change: the kept history follows. Messages written any other way are not followed: the session's newest
        message then differs from the kept one and the next turn reads the history again."""
        kept = self._kept.get(session.id)
        if kept is None:
            return
        rows = [question] if answer is None else [question, answer]
        turns = [_turn(row.sender, row.text) for row in rows]
        self._keep(session.id, KeptHistory(rows[-1].id, (*kept.turns, *turns)[-AI_HISTORY_TURNS:]))

    def _keep(self, session_pk: int, history: KeptHistory) -> None:
        self._kept[session_pk] = history
        self._kept.move_to_end(session_pk)
        while len(self._kept) > HISTORIES_KEPT:
            self._kept.popitem(last=False)

    async def store_answer(self, change: Change, session: VisitorSession, chat: SupportChat | None,
                           answer: AIAnswer) -> ChatMessage:
        return await change.message(session.id, chat.id if chat else None, Sender.AI, answer.text,
                                    meta=self.answer_meta(answer))

    @staticmethod
    def answer_meta(answer: AIAnswer) -> str:
        """What an answer's row keeps beside its text (the widget's chips and "more", the misses' streak)."""
        return json.dumps({"confident": answer.confident, "topics": list(answer.topics),
                           **({"more": answer.more} if answer.more else {}),
                           **({"chips": list(answer.chips)} if answer.chips else {})}, ensure_ascii=False)

    async def needs_after(self, session: VisitorSession, chat: SupportChat | None, answer: AIAnswer) -> Needs:
        """Whether a stored answer completes a streak of misses that calls for offering a person."""
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

    async def history(self, session: VisitorSession, *, before: int = NO_LATER_THAN) -> list[Turn]:
        rows = await _HISTORY.tuples(session.id, before)
        return [_turn(sender, text) for sender, text, _ in reversed(rows)]

    async def _generate(self, session: VisitorSession, text: str, history: list[Turn], *,
                        reply_to: int | None = None, typing: bool = True) -> AIAnswer:
        hub = self.store.hub
        if typing:
            hub.publish_ephemeral(session.id, {"type": "typing", "author": "ai", "active": True})
        pieces: list[str] = []
        try:
            stream = self.consultant.stream(text, history, locale=session.locale)
            async for piece in stream:
                pieces.append(piece)
                if self.stream:
                    hub.publish_ephemeral(session.id, {"type": "ai_delta", "reply_to": reply_to, "text": piece})
            result = getattr(stream, "result", None)
            return result if isinstance(result, AIAnswer) else AIAnswer("".join(pieces), bool(pieces))
        except Exception:
            log.exception("AI consultant failed for session %s", session.session_id)
            return AIAnswer(visitor_text("ai_unavailable", session.locale), confident=False)
        finally:
            if typing:
                hub.publish_ephemeral(session.id, {"type": "typing", "author": "ai", "active": False})
