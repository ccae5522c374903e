"""The AI co-pilot for managers: it reads along and suggests, and never sends anything by itself.

On accept the chat's manager gets a brief (what the visitor wants, from the handoff's summary, and what the AI
already told them). For each visitor message after that, the configured consultant drafts a reply; the manager
sees it streamed as a Telegram draft where the bot can, then as a message with «✅ Отправить», «✏️ Изменить» and
«✖». Only «Отправить» makes it a manager message (support/relay.py stores and delivers it like any reply).

Off for the whole desk with `[support] copilot = false`, and per manager (Manager.copilot_enabled).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import weakref
from typing import Any, Protocol

from ai import AIAnswer, Consultant
from core.i18n import translate
from models import (
    ChatMessage,
    ChatStatus,
    CopilotSuggestion,
    Manager,
    Sender,
    SuggestionStatus,
    SupportChat,
    utcnow,
)
from support.assistant import Assistant
from support.contracts import ChatCard, NotAllowed, SupportError
from support.markdown import markdown_to_plain
from support.outbox import OutgoingCall
from support.relay import Relay
from support.store import Change, ChatStore
from support.topics import Topics

log = logging.getLogger("support")

SUGGESTION_TIMEOUT_SECONDS = 30
DRAFT_FRAME_SECONDS = 0.3  # a new draft frame at most this often: Telegram animates between them
# A draft starts this long after the visitor's message: the message itself reaches the manager first. Started at
# once, the draft's reads and its "thinking" frame queue with the relay's outbox round on the same loop and
# database connection, and the manager's Telegram gets the client's words a few ms later for a draft that takes
# seconds anyway.
DRAFT_AFTER_RELAY_SECONDS = 0.2
TOLD_LIMIT = 160


class SuggestionDecided(SupportError):
    """The suggestion was already sent or dismissed (a second tap, or the other button)."""

    code = "suggestion_decided"

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class CopilotView(Protocol):
    """How the co-pilot reaches a manager (bot/copilot.py for Telegram)."""

    def brief(self, card: ChatCard, manager_telegram_id: int, text: str) -> OutgoingCall: ...

    def suggestion(
        self, card: ChatCard, manager_telegram_id: int, suggestion: CopilotSuggestion, *, inline: bool
    ) -> OutgoingCall: ...

    async def inline_mode(self) -> bool:
        """Whether the bot answers inline queries (then «✏️ Изменить» puts the text into the input field)."""
        ...

    async def frame(self, manager_telegram_id: int, draft_id: int, text: str, thread_id: int | None = None) -> bool:
        """Show a draft's text so far (in the chat's topic when it has one); False when drafts are not supported
        (nothing more is tried)."""
        ...


class Copilot:
    def __init__(
        self, store: ChatStore, assistant: Assistant, relay: Relay, view: CopilotView | None,
        topics: Topics | None = None,
    ) -> None:
        self.store = store
        # The brief and the suggestion reach the chat's topic by themselves (Change.send places a chat's
        # messages); the draft frames are sent at once, so they ask the topic for its thread.
        self.topics = topics
        self.assistant = assistant
        self.relay = relay
        self.view = view
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._background: set[asyncio.Task[Any]] = set()
        # Per chat, the newest visitor message a draft was asked for: an older one's draft is not started (a
        # visitor who writes three lines in a row wants one answer, and a busy manager one draft, not three).
        self._newest: dict[int, int] = {}

    @property
    def consultant(self) -> Consultant:
        return self.assistant.consultant

    def enabled_for(self, manager: Manager) -> bool:
        return self.view is not None and self.store.policy.copilot and bool(manager.copilot_enabled)

    async def set_enabled(self, manager: Manager, enabled: bool) -> None:
        """The manager's own switch (their menu)."""
        await Manager.update(copilot_enabled=enabled).where(Manager.id == manager.id).aio_execute()
        manager.copilot_enabled = enabled

    # --- the brief on accept ------------------------------------------------------------------------

    async def brief(self, chat: SupportChat, locale: str | None = None) -> str | None:
        """Two or three lines: what the visitor wants (the handoff's summary) and what the AI already told them,
        in the manager's language (`locale`)."""
        lines = [line for line in (chat.summary or "").splitlines() if line.strip()][:2]
        answers = list(await ChatMessage.select(ChatMessage.text, ChatMessage.meta).where(
            (ChatMessage.support_chat == chat.id) & (ChatMessage.sender == Sender.AI)
        ).order_by(ChatMessage.id.desc()).aio_execute())
        confident = [row for row in answers if json.loads(row.meta or "{}").get("confident", True)]
        if confident:
            lines.append(translate(locale, "ИИ уже ответил: «{gist}»", gist=_gist(confident[0].text)))
        elif answers:
            lines.append(translate(locale, "ИИ не нашёл ответа на вопросы клиента."))
        elif lines:
            lines.append(translate(locale, "С ИИ клиент не общался."))
        return "\n".join(lines) if lines else None

    async def on_taken(self, change: Change, chat: SupportChat, manager: Manager, card: ChatCard) -> None:
        """Lifecycle hook: a manager has just taken the chat (in the same transaction)."""
        if self.view is None or not self.enabled_for(manager):
            return
        text = await self.brief(chat, manager.language_code)
        if text:
            await change.send([self.view.brief(card, manager.telegram_id, text)])

    # --- suggested replies ------------------------------------------------------------------------

    def visitor_wrote(self, chat: SupportChat, message: ChatMessage) -> None:
        """Relay hook, after the visitor's message is stored: draft a reply in the background."""
        if chat.status != ChatStatus.ASSIGNED or self.view is None or not self.store.policy.copilot:
            return
        if message.meta and "attachment" in json.loads(message.meta):
            return  # the consultant cannot read files
        self._newest[chat.id] = max(self._newest.get(chat.id, 0), message.id)
        task = asyncio.create_task(self.suggest(chat.id, message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def suggest(self, chat_id: int, question: ChatMessage) -> CopilotSuggestion | None:
        """Draft a reply to `question` for the chat's manager, show it, and keep it until they decide."""
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = self._locks[chat_id] = asyncio.Lock()
        async with lock:  # one chat's suggestions in the order its messages came
            await asyncio.sleep(DRAFT_AFTER_RELAY_SECONDS)
            if self._newest.get(chat_id, 0) > question.id:
                return None  # the visitor wrote again meanwhile: the draft is for their latest words
            try:
                return await asyncio.wait_for(self._suggest(chat_id, question), SUGGESTION_TIMEOUT_SECONDS)
            except Exception:
                log.exception("Co-pilot could not suggest a reply in chat %s", chat_id)
                return None
            finally:
                if self._newest.get(chat_id) == question.id:
                    del self._newest[chat_id]  # nothing newer waits: the chat is forgotten until it writes again

    async def _suggest(self, chat_id: int, question: ChatMessage) -> CopilotSuggestion | None:
        assert self.view is not None
        chat = await self.store.chat(chat_id)
        if chat.status != ChatStatus.ASSIGNED or chat.manager_id is None:
            return None
        manager = await Manager.aio_get(Manager.id == chat.manager_id)
        if not self.enabled_for(manager):
            return None
        session = await self.store.session_of(chat)
        history = await self.assistant.history(session, before=question.id)
        thread_id = await self.topics.thread_of(chat_id, manager) if self.topics is not None else None
        answer = await self._draft(manager.telegram_id, thread_id, question, history, session.locale)
        if not answer.confident or not answer.text.strip():
            return None  # an honest "not sure" is no help to a manager who knows better
        inline = await self.view.inline_mode()
        async with self.store.change() as change:
            chat = await self.store.chat(chat_id)
            if chat.status != ChatStatus.ASSIGNED or chat.manager_id != manager.id:
                return None  # closed or handed over while the consultant thought
            if await self.store.answered_since(chat.id, question.id):
                return None  # a person answered while the consultant thought: a suggestion now is noise
            suggestion = await CopilotSuggestion.aio_create(
                support_chat=chat.id, manager=manager.id, reply_to=question.id, text=answer.text)
            card = await self.store.card(chat)
            await change.send([self.view.suggestion(card, manager.telegram_id, suggestion, inline=inline)])
        return suggestion

    async def _draft(
        self, telegram_id: int, thread_id: int | None, question: ChatMessage, history: list[Any], locale: str
    ) -> AIAnswer:
        """The consultant's answer, streamed into a Telegram draft (draft id = the question's id) as it grows."""
        assert self.view is not None
        streaming = await self.view.frame(telegram_id, question.id, "", thread_id)  # "Thinking…" until the first
        stream = self.consultant.stream(question.text, history, locale=locale)
        pieces: list[str] = []
        shown_at = time.monotonic()
        async for piece in stream:
            pieces.append(piece)
            if streaming and time.monotonic() - shown_at >= DRAFT_FRAME_SECONDS:
                streaming = await self.view.frame(telegram_id, question.id, markdown_to_plain("".join(pieces)),
                                                  thread_id)
                shown_at = time.monotonic()
        result = getattr(stream, "result", None)
        answer = result if isinstance(result, AIAnswer) else AIAnswer("".join(pieces), bool(pieces))
        if streaming and answer.confident:
            await self.view.frame(telegram_id, question.id, markdown_to_plain(answer.text), thread_id)
        return answer

    async def suggestion_of(self, manager: Manager, suggestion_id: int) -> CopilotSuggestion:
        row = await CopilotSuggestion.aio_get_or_none(CopilotSuggestion.id == suggestion_id)
        if row is None or row.manager_id != manager.id:
            raise NotAllowed(row.support_chat_id if row else 0)
        return row

    async def send(self, manager: Manager, suggestion_id: int) -> tuple[CopilotSuggestion, ChatMessage]:
        """The manager's tap: the suggestion becomes their message to the visitor (stored, then delivered)."""
        async with self.store.change():
            row = await self.suggestion_of(manager, suggestion_id)
            await self._decide(row, SuggestionStatus.SENT)
            message = await self.relay.manager_reply(manager, row.support_chat_id, row.text)
        return row, message

    async def dismiss(self, manager: Manager, suggestion_id: int) -> CopilotSuggestion:
        row = await self.suggestion_of(manager, suggestion_id)
        await self._decide(row, SuggestionStatus.DISMISSED)
        return row

    async def _decide(self, row: CopilotSuggestion, status: str) -> None:
        decided = await CopilotSuggestion.update(status=status, decided_at=utcnow()).where(
            (CopilotSuggestion.id == row.id) & (CopilotSuggestion.status == SuggestionStatus.PENDING)
        ).aio_execute()
        if not decided:
            current = await CopilotSuggestion.aio_get(CopilotSuggestion.id == row.id)
            raise SuggestionDecided(current.status)
        row.status = status

    async def drain(self) -> None:
        if self._background:
            await asyncio.wait(set(self._background), timeout=10)


def _gist(text: str) -> str:
    """The first sentences of an answer, up to TOLD_LIMIT characters, as plain text."""
    plain = " ".join(markdown_to_plain(text).split())
    gist = ""
    for sentence in re.split(r"(?<=[.!?…])\s+", plain):
        if gist and len(gist) + 1 + len(sentence) > TOLD_LIMIT:
            break
        gist = f"{gist} {sentence}".strip()
    return gist if len(gist) <= TOLD_LIMIT else gist[: TOLD_LIMIT - 1].rstrip() + "…"
