"""Types shared by every consultant backend; the chat service depends on exactly these (Consultant is the one
protocol it knows the AI by)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

# The settings are config.toml's [ai] section itself, re-exported as the ai package's own.
from core.config import DEFAULT_THRESHOLD, AISettings

__all__ = ["DEFAULT_THRESHOLD", "AIAnswer", "AISettings", "AnswerStream", "Consultant", "Turn"]


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class AIAnswer:
    text: str  # Markdown
    confident: bool  # False when below the confidence threshold (an honest "not sure")
    topics: tuple[str, ...] = ()  # knowledge-base headings used
    # The whole entry (Markdown) when `text` is only the sentences of it that answer the question:
    # the widget offers it behind «Подробнее». Empty when the text is already all there is.
    more: str = ""
    # Related questions the widget offers as quick-reply chips under this answer (in the answer's language).
    chips: tuple[str, ...] = ()


@runtime_checkable
class Consultant(Protocol):
    async def answer(self, question: str, history: Sequence[Turn], locale: str = "ru") -> AIAnswer: ...

    def stream(self, question: str, history: Sequence[Turn], locale: str = "ru") -> AsyncIterator[str]: ...

    async def summarize(self, history: Sequence[Turn], locale: str = "ru") -> str | None: ...

    def quick_replies(self, locale: str = "ru") -> list[str]: ...


class AnswerStream(AsyncIterator[str]):
    """The pieces of one answer, plus the finished AIAnswer once they are exhausted.

    stream() has to yield bare strings, yet the caller also needs `confident` to decide on a
    hand-off without asking the backend twice; `result` carries it after the last piece.
    """

    def __init__(self, produce: Callable[[AnswerStream], AsyncGenerator[str, None]]) -> None:
        self.result: AIAnswer | None = None
        self._pieces = produce(self)

    def __aiter__(self) -> AnswerStream:
        return self

    async def __anext__(self) -> str:
        return await self._pieces.__anext__()

    async def aclose(self) -> None:
        # Lets `async with contextlib.aclosing(stream)` release an HTTP response early.
        await self._pieces.aclose()
