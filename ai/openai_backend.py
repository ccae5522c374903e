"""Consultant backed by any OpenAI-compatible Chat Completions endpoint, grounded in the knowledge base.

The model only phrases answers: the entries retrieved by the offline index go into the system
prompt and the model is told to answer from them or admit it does not know. Whatever goes wrong
upstream (timeout, HTTP error, garbage in the stream), the visitor gets the offline answer
instead of an error, because a support widget that shows stack traces loses drivers.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import aiohttp

from ai import texts
from ai.base import AIAnswer, AISettings, AnswerStream, Turn
from ai.knowledge import KnowledgeConsultant, Match

log = logging.getLogger(__name__)

# The model starts its reply with this when the grounding has no answer. It is cut out of the
# stream so the visitor sees our standard "not sure" text and the caller gets confident=False.
NO_ANSWER = "[NO_ANSWER]"

GROUNDING_LIMIT = 3
HISTORY_LIMIT = 10  # turns; older ones rarely matter and only cost tokens
TURN_CHARS = 2000
# sock_read bounds the silence between chunks, this bounds a server that trickles keep-alives forever.
TOTAL_TIMEOUT_FACTOR = 6

SYSTEM_PROMPT_RU = """Ты — ИИ-консультант таксопарка ILPO-TAXI в чате на сайте. С тобой говорят люди, \
которые хотят работать водителями в парке: на своём автомобиле или на арендованном.

Правила:
- Отвечай только на основе справочных материалов ниже и истории диалога. Не придумывай цифры, \
цены, адреса, телефоны и условия, которых нет в материалах.
- Если в материалах нет ответа на вопрос или вопрос не относится к работе в парке, начни ответ \
ровно с {marker} и ничего не выдумывай.
- Отвечай кратко и дружелюбно, на русском языке; можно использовать Markdown (списки, **жирный**).
- Если человек хочет поговорить с живым сотрудником, предложи нажать кнопку «{button}»."""

SYSTEM_PROMPT_EN = """You are the AI consultant of the ILPO-TAXI taxi fleet in the chat on its website. \
You talk to people who want to drive for the fleet, in their own car or a rented one.

Rules:
- Answer only from the reference material below and the conversation. Never invent numbers, \
prices, addresses, phone numbers or conditions that are not in the material.
- If the material does not contain the answer, or the question is not about working with the \
fleet, start your reply with exactly {marker} and do not make anything up.
- Be brief and friendly, answer in English (the material is in Russian: translate it); Markdown is fine.
- If the person wants to talk to a human, suggest pressing the «{button}» button."""

SUMMARY_PROMPT_RU = """Ты помогаешь менеджеру таксопарка ILPO-TAXI. По переписке посетителя с \
ИИ-консультантом напиши ровно две строки без вступления:
1) что хочет посетитель;
2) важные детали (свой автомобиль или аренда, опыт, город, срочность, нерешённый вопрос)."""

SUMMARY_PROMPT_EN = """You help a manager of the ILPO-TAXI taxi fleet. From the visitor's chat with \
the AI consultant, write exactly two lines, no preamble:
1) what the visitor wants;
2) key details (own car or rental, experience, city, urgency, the unresolved question)."""


class UpstreamError(Exception):
    """The endpoint answered, but not with something usable."""


class OpenAIConsultant:
    def __init__(self, settings: AISettings, fallback: KnowledgeConsultant) -> None:
        if not settings.base_url or not settings.model:
            raise ValueError("the openai backend needs [ai] base_url and model")
        self.settings = settings
        self.fallback = fallback
        base = settings.base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else f"{base}/chat/completions"

    # -- public API -----------------------------------------------------------------------------

    async def answer(self, question: str, history: Sequence[Turn], locale: str = "ru") -> AIAnswer:
        stream = self.stream(question, history, locale)
        pieces = [piece async for piece in stream]
        return stream.result or AIAnswer(text="".join(pieces), confident=bool(pieces), topics=())

    def stream(self, question: str, history: Sequence[Turn], locale: str = "ru") -> AnswerStream:
        return AnswerStream(lambda stream: self._produce(stream, question, history, locale))

    async def summarize(self, history: Sequence[Turn], locale: str = "ru") -> str | None:
        turns = [t for t in history if t.text.strip()][-30:]
        if not any(t.role == "user" for t in turns):
            return None
        visitor, bot = ("Visitor", "Consultant") if texts.is_english(locale) else ("Посетитель", "Консультант")
        transcript = "\n".join(f"{visitor if t.role == 'user' else bot}: {t.text.strip()[:500]}" for t in turns)
        prompt = SUMMARY_PROMPT_EN if texts.is_english(locale) else SUMMARY_PROMPT_RU
        messages = [{"role": "system", "content": prompt}, {"role": "user", "content": transcript}]
        try:
            content = await self._complete(messages)
        except (UpstreamError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("AI summary failed (%s: %s)", type(exc).__name__, exc)
            return None
        lines = [line.strip() for line in content.splitlines() if line.strip()]
        return "\n".join(lines[:2]) or None

    def quick_replies(self, locale: str = "ru") -> list[str]:
        return self.fallback.quick_replies(locale)

    # -- prompt ---------------------------------------------------------------------------------

    def grounding(self, question: str, history: Sequence[Turn]) -> list[Match]:
        # Ranked with the previous question as context, so follow-ups ("а залог?") get their entry
        # even though their own words are too few to be confident about.
        return self.fallback.retrieve(question, history, limit=GROUNDING_LIMIT)

    def messages(
        self, question: str, history: Sequence[Turn], locale: str, grounding: Sequence[Match]
    ) -> list[dict[str, str]]:
        english = texts.is_english(locale)
        system = (SYSTEM_PROMPT_EN if english else SYSTEM_PROMPT_RU).format(
            marker=NO_ANSWER, button=texts.handoff_button(locale)
        )
        if grounding:
            material = "\n\n".join(f"### {m.entry.topic}\n{m.entry.body}" for m in grounding)
        else:
            material = "(nothing relevant found)" if english else "(подходящих материалов не найдено)"
        title = "Reference material" if english else "Справочные материалы"
        result = [{"role": "system", "content": f"{system}\n\n{title}:\n\n{material}"}]
        earlier = list(history)
        if earlier and earlier[-1].role == "user" and earlier[-1].text.strip() == question.strip():
            earlier.pop()  # the caller may already have stored the question in the history
        for turn in earlier[-HISTORY_LIMIT:]:
            if turn.text.strip():
                result.append({"role": turn.role, "content": turn.text.strip()[:TURN_CHARS]})
        result.append({"role": "user", "content": question.strip()[:TURN_CHARS]})
        return result

    # -- streaming ------------------------------------------------------------------------------

    async def _produce(
        self, stream: AnswerStream, question: str, history: Sequence[Turn], locale: str
    ) -> AsyncGenerator[str, None]:
        small_talk = self.fallback.small_talk(question, locale)
        if small_talk is not None:
            stream.result = small_talk
            yield small_talk.text
            return
        grounding = self.grounding(question, history)
        topics = tuple(m.entry.topic for m in grounding)
        sent: list[str] = []
        held = ""  # the start of the reply, kept back while it could still be NO_ANSWER
        decided = False
        failed = False
        try:
            request = self._stream_completion(self.messages(question, history, locale, grounding))
            async with contextlib.aclosing(request) as pieces:
                async for piece in pieces:
                    if not decided:
                        held += piece
                        head = held.lstrip()
                        if head.startswith(NO_ANSWER):
                            suggestions = [m.entry.topic for m in grounding if m.coverage > 0]
                            stream.result = AIAnswer(texts.not_sure(locale, suggestions), confident=False, topics=())
                            yield stream.result.text
                            return
                        if NO_ANSWER.startswith(head):
                            continue
                        decided, piece, held = True, held.lstrip(), ""
                    sent.append(piece)
                    yield piece
        except (UpstreamError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
            failed = True
            log.warning(
                "AI backend failed %s (%s: %s); %s",
                "mid-answer" if sent else "before answering",
                type(exc).__name__,
                exc,
                "keeping the partial answer" if sent else "answering from the knowledge base",
            )
        if held.strip() and not sent and not failed:
            sent.append(held.lstrip())  # a reply that merely looked like the marker's beginning
            yield sent[-1]
        if not "".join(sent).strip():
            if not failed:
                log.warning("AI backend returned an empty answer; answering from the knowledge base")
            stream.result = self.fallback.consult(question, history, locale)
            yield stream.result.text
            return
        chips = self.fallback.related_chips(grounding[0].entry, grounding, locale) if grounding else ()
        stream.result = AIAnswer(text="".join(sent), confident=True, topics=topics, chips=chips)

    def _timeout(self) -> aiohttp.ClientTimeout:
        seconds = self.settings.timeout_seconds
        return aiohttp.ClientTimeout(
            total=seconds * TOTAL_TIMEOUT_FACTOR, sock_connect=seconds, sock_read=seconds
        )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}

    async def _stream_completion(self, messages: list[dict[str, str]]) -> AsyncGenerator[str, None]:
        payload = {"model": self.settings.model, "messages": messages, "stream": True, "temperature": 0.2}
        async with (
            aiohttp.ClientSession(timeout=self._timeout()) as session,
            session.post(self.url, json=payload, headers=self._headers()) as response,
        ):
            await _raise_for_status(response)
            if response.content_type == "application/json":
                # Some compatible servers ignore stream=true and send the whole completion at once.
                yield _message_content(await response.json())
                return
            async for data in _sse_data(response.content):
                if data.strip() == "[DONE]":
                    return
                content = _delta_content(json.loads(data))
                if content:
                    yield content

    async def _complete(self, messages: list[dict[str, str]]) -> str:
        payload = {"model": self.settings.model, "messages": messages, "stream": False, "temperature": 0.2}
        async with (
            aiohttp.ClientSession(timeout=self._timeout()) as session,
            session.post(self.url, json=payload, headers=self._headers()) as response,
        ):
            await _raise_for_status(response)
            return _message_content(await response.json(content_type=None))


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if not 200 <= response.status < 300:
        body = (await response.text(errors="replace"))[:300]
        raise UpstreamError(f"HTTP {response.status}: {body}")


async def _sse_data(content: aiohttp.StreamReader) -> AsyncGenerator[str, None]:
    """The data of each server-sent event (multi-line data joined by newlines, per the SSE spec)."""
    data: list[str] = []
    async for raw in content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # keep-alive comment
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _first_choice(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        raise UpstreamError("response is not a JSON object")
    if "error" in body:
        raise UpstreamError(f"error in response: {str(body['error'])[:300]}")
    choices = body.get("choices")
    if choices is None or choices == []:
        return None  # e.g. a final usage-only chunk
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise UpstreamError("malformed choices")
    return choices[0]


def _delta_content(chunk: Any) -> str:
    choice = _first_choice(chunk)
    if choice is None:
        return ""
    delta = choice.get("delta") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    if content is not None and not isinstance(content, str):
        raise UpstreamError("malformed delta content")
    return content or ""


def _message_content(body: Any) -> str:
    choice = _first_choice(body)
    message = (choice or {}).get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise UpstreamError("no message content in response")
    return content
