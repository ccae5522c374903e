"""Types shared by every consultant backend; the chat service depends on exactly these."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

# Share of the question's informative words that the best entry must explain (KnowledgeIndex.search).
# Picked on bench/data/ai_questions.tsv and the tests' paraphrases. The window is narrow: at 0.45 real
# questions with a filler word the base does not know start failing ("надо ли покупать ОСАГО самому"
# scores 0.44), at 0.35 off-topic ones sharing one domain word pass ("сколько стоит билет в кино", 0.36).
DEFAULT_THRESHOLD = 0.4


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


@dataclass(frozen=True)
class AISettings:
    """Filled from config.toml [ai] by the caller."""

    backend: Literal["knowledge", "openai"] = "knowledge"
    knowledge_path: Path = Path("knowledge")
    threshold: float = DEFAULT_THRESHOLD
    base_url: str = ""  # openai backend
    model: str = ""
    api_key: str = ""  # read from env by the caller (AI_API_KEY / OPENAI_API_KEY)
    timeout_seconds: float = 20.0
    auto_handoff: bool = False


@runtime_checkable
class Consultant(Protocol):
    async def answer(self, question: str, history: Sequence[Turn], locale: str = "ru") -> AIAnswer: ...

    def stream(self, question: str, history: Sequence[Turn], locale: str = "ru") -> AsyncIterator[str]: ...

    async def summarize(self, history: Sequence[Turn], locale: str = "ru") -> str | None: ...


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
