"""Offline consultant: answers a visitor's question from the best-matching knowledge entry, or honestly
doesn't; greetings and thanks are told apart from questions.

The base's files are read in ai/entries.py and searched in ai/index.py (BM25); their names used elsewhere are
re-exported here."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from pathlib import Path

from ai import texts
from ai.base import DEFAULT_THRESHOLD, AIAnswer, AnswerStream, Turn
from ai.entries import Entry, load_entries, parse_markdown
from ai.index import (
    BM25_B,
    BM25_K1,
    CONTEXT_WEIGHT,
    HEADING_BOOST,
    PREFIX_MATCH_WEIGHT,
    UNKNOWN_WORD_SHARE,
    KnowledgeBase,
    KnowledgeIndex,
    Match,
    _plain,
)
from ai.text import is_english_text, word_set, words

__all__ = [
    "ANSWER_CACHE_SIZE",
    "BM25_B",
    "BM25_K1",
    "CONTEXT_WEIGHT",
    "HEADING_BOOST",
    "MAX_QUICK_REPLIES",
    "MAX_RELATED_CHIPS",
    "PREFIX_MATCH_WEIGHT",
    "RELATED_SCORE_SHARE",
    "UNKNOWN_WORD_SHARE",
    "Entry",
    "KnowledgeBase",
    "KnowledgeConsultant",
    "KnowledgeIndex",
    "Match",
    "answer_locale",
    "is_greeting",
    "is_thanks",
    "load_entries",
    "parse_markdown",
    "previous_user_text",
    "strip_greeting",
    "wants_small_talk",
]

MAX_QUICK_REPLIES = 4  # the widget's opening chips
MAX_RELATED_CHIPS = 3  # chips after an answer
# Beyond its "see also", an answer offers the entries the question matched nearly as well as the one answered:
# a far second ("Медосмотр" for "какие документы нужны") shares a word, not a subject.
RELATED_SCORE_SHARE = 0.5
# The consultant's memo of its last answers.
ANSWER_CACHE_SIZE = 1024


_GREETING_WORDS = word_set(
    "привет приветик приветствую здравствуйте здравствуй здрасте здрасьте добрый доброе доброй "
    "хай салют алло hi hello hey hallo good"
)
_THANKS_WORDS = word_set("спасибо благодарю спс спасибочки thanks thank thx")
_POLITE_FILLER = word_set(
    "день утро утра вечер вечера ночи бот ботик ребята всем вам тебе и а большое огромное ilpo taxi такси "
    "there morning afternoon evening everyone all you very much понятно ясно ок окей хорошо отлично "
    "супер ok okay great"
)


def _only(text_words: list[str], core: frozenset[str]) -> bool:
    return bool(text_words) and any(w in core for w in text_words) and all(
        w in core or w in _POLITE_FILLER for w in text_words
    )


def is_greeting(text: str) -> bool:
    return _only(words(text), _GREETING_WORDS)


def is_thanks(text: str) -> bool:
    return _only(words(text), _THANKS_WORDS)


_LEADING_GREETING = re.compile(
    r"^[\W_]*(привет(ик|ствую)?|здравствуй(те)?|здрасьте|здрасте|приветствую|салют|добр(ый|ое|ой|ого)\s+"
    r"(день|утро|вечер|ночи|дня|утра|вечера|времени\s+суток)|hi|hello|hey|good\s+(morning|afternoon|evening|day))"
    r"(?![\w-])[\W_]*",
    re.IGNORECASE,
)


def strip_greeting(text: str) -> str:
    """The question without a leading "Добрый день!": "день" and "утро" are words the base knows."""
    previous = None
    while previous != text:
        previous, text = text, _LEADING_GREETING.sub("", text, count=1)
    return text


def previous_user_text(question: str, history: Sequence[Turn]) -> str:
    """The visitor's previous message, which gives follow-ups like "а залог какой?" their subject."""
    for turn in reversed(history):
        if turn.role == "user" and turn.text.strip() != question.strip():
            return turn.text
    return ""


class KnowledgeConsultant:
    """The default backend: answers with the sentences of the best-matching entry that answer the
    question (the whole entry one tap away, in `AIAnswer.more`), or honestly doesn't.

    `short_answers=False` keeps the earlier whole-entry replies, for the bench's before/after.
    The last `answer_cache_size` answers are remembered: visitors ask the same few questions (the chips send
    them verbatim), and an answer depends only on what `consult` keys it by.
    """

    # Answers from memory without waiting on anything: the chat service answers inside the visitor's request.
    instant = True

    def __init__(
        self,
        knowledge_path: Path = Path("knowledge"),
        threshold: float = DEFAULT_THRESHOLD,
        *,
        check_interval: float = 2.0,
        knowledge: KnowledgeBase | None = None,
        short_answers: bool = True,
        answer_cache_size: int = ANSWER_CACHE_SIZE,
    ) -> None:
        self.knowledge = knowledge or KnowledgeBase(knowledge_path, check_interval=check_interval)
        self.threshold = threshold
        self.short_answers = short_answers
        self._answers: OrderedDict[tuple[str, str, str, float, bool], AIAnswer] = OrderedDict()
        self._answers_index: KnowledgeIndex | None = None
        self.answer_cache_size = answer_cache_size  # 0: work every answer out afresh (the bench's first-ask figure)

    def retrieve(self, question: str, history: Sequence[Turn] = (), limit: int = 3) -> list[Match]:
        context = strip_greeting(previous_user_text(question, history))
        return self.knowledge.index.search(strip_greeting(question), context, limit)

    def small_talk(self, question: str, locale: str = "ru") -> AIAnswer | None:
        """Greetings and thanks, which need no knowledge entry (and no paid model call)."""
        if is_greeting(question):
            return AIAnswer(text=texts.greeting(locale), confident=True, topics=())
        if is_thanks(question):
            return AIAnswer(text=texts.thanks(locale), confident=True, topics=())
        return None

    def consult(self, question: str, history: Sequence[Turn] = (), locale: str = "ru") -> AIAnswer:
        # An answer is a pure function of exactly these: the question, the one earlier message it reads
        # (previous_user_text), the widget's locale, the threshold, the reply style and the index, which is
        # rebuilt (a new object, so a fresh memo) whenever the base changes. AIAnswer is frozen: sharing is safe.
        index = self.knowledge.index
        if index is not self._answers_index:
            self._answers.clear()
            self._answers_index = index
        previous = previous_user_text(question, history)
        if self.answer_cache_size <= 0:
            return self._consult(index, question, previous, locale)
        key = (question, previous, locale, self.threshold, self.short_answers)
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
            return answer
        answer = self._answers[key] = self._consult(index, question, previous, locale)
        while len(self._answers) > self.answer_cache_size:
            self._answers.popitem(last=False)
        return answer

    def _consult(self, index: KnowledgeIndex, question: str, previous: str, locale: str) -> AIAnswer:
        # The language of the question wins over the widget's: a visitor writes in the one they read.
        locale = answer_locale(question, locale)
        quick = self.small_talk(question, locale)
        if quick is not None:
            return quick
        matches = index.search(strip_greeting(question), strip_greeting(previous), limit=5)
        asked = index.asked.get(_plain(question))
        if asked is not None:
            # A chip sends its entry's question verbatim: that entry answers it, whatever BM25 makes of the words
            # (an English heading has only the synonyms to meet the Russian index by).
            answer = self._entry_answer(asked, question, locale, index)
            return replace(answer, chips=self._related_chips(index, asked, matches, locale))
        for match in matches:
            if match.coverage >= self.threshold:
                answer = self._entry_answer(match.entry, question, locale, index)
                return replace(answer, chips=self._related_chips(index, match.entry, matches, locale))
        suggestions = [m.entry.topic for m in matches[:3] if m.coverage > 0]
        return AIAnswer(text=texts.not_sure(locale, suggestions), confident=False, topics=())

    def _entry_answer(self, entry: Entry, question: str, locale: str, index: KnowledgeIndex) -> AIAnswer:
        english = texts.is_english(locale)
        in_english = english and bool(entry.en_body)
        full = entry.markdown(english=in_english)
        if not self.short_answers:
            return AIAnswer(text=full, confident=True, topics=(entry.topic,))
        body = entry.en_body if in_english else entry.body
        question = strip_greeting(question)
        short, whole = index.excerpter.excerpt(body, question, index.question_units(question), english=in_english)
        if english and not in_english:
            short = f"{texts.russian_only_note()}\n\n{short}"
        more = "" if whole else full
        return AIAnswer(text=short, confident=True, topics=(entry.topic,), more=more)

    def _asked_entry(self, question: str) -> Entry | None:
        """The entry whose heading or chip text the question is, word for word."""
        return self.knowledge.index.asked.get(_plain(question))

    def quick_replies(self, locale: str = "ru") -> list[str]:
        """The top questions (entries marked `<!-- chip -->`, in the base's order) the widget offers on opening."""
        english = texts.is_english(locale)
        found = [entry.question(english) for entry in self.knowledge.index.entries if entry.chip]
        return [question for question in found if question][:MAX_QUICK_REPLIES]

    def related_chips(self, answered: Entry, matches: Sequence[Match], locale: str = "ru") -> tuple[str, ...]:
        """Questions to offer after `answered`'s answer: its "see also" entries, then the other entries this
        question matched confidently. Each chip is an entry's own question, so sending it finds that entry."""
        return self._related_chips(self.knowledge.index, answered, matches, locale)

    def _related_chips(self, index: KnowledgeIndex, answered: Entry, matches: Sequence[Match],
                       locale: str) -> tuple[str, ...]:
        english = texts.is_english(locale)
        by_topic = index.by_topic
        related = [by_topic[name] for name in answered.see_also if name in by_topic]
        answered_score = next((m.score for m in matches if m.entry.topic == answered.topic), 0.0)
        related += [m.entry for m in matches if m.coverage >= self.threshold
                    and m.score >= RELATED_SCORE_SHARE * answered_score]
        chips: list[str] = []
        for entry in related:
            question = entry.question(english)
            if entry.topic != answered.topic and question and question not in chips:
                chips.append(question)
        return tuple(chips[:MAX_RELATED_CHIPS])

    def entry(self, topic: str, locale: str = "ru") -> str | None:
        """The whole entry with this heading, as «Подробнее» shows it; None when there is none (any more)."""
        for entry in self.knowledge.index.entries:
            if entry.topic == topic:
                return entry.markdown(english=texts.is_english(locale))
        return None

    async def answer(self, question: str, history: Sequence[Turn], locale: str = "ru") -> AIAnswer:
        return self.consult(question, history, locale)

    def stream(self, question: str, history: Sequence[Turn], locale: str = "ru") -> AnswerStream:
        async def produce(stream: AnswerStream) -> AsyncGenerator[str, None]:
            stream.result = self.consult(question, history, locale)
            yield stream.result.text

        return AnswerStream(produce)

    def topic_of(self, question: str) -> str | None:
        """The knowledge entry `question` is about, or None when it is off-topic (or small talk)."""
        if wants_small_talk(question):
            return None
        for match in self.knowledge.index.search(question, limit=1):
            if match.coverage >= self.threshold:
                return match.entry.topic
        return None

    async def summarize(self, history: Sequence[Turn], locale: str = "ru") -> str | None:
        """An extractive summary: the latest on-topic question and the topics the visitor asked about.

        An off-topic last question («рецепт борща») is not what the manager should read first."""
        questions = [t.text.strip() for t in history if t.role == "user" and t.text.strip()]
        if not questions:
            return None
        on_topic = [(question, topic) for question in questions if (topic := self.topic_of(question))]
        topics = list(dict.fromkeys(topic for _, topic in on_topic))
        if on_topic:
            latest = on_topic[-1][0]
        else:
            latest = next((q for q in reversed(questions) if not wants_small_talk(q)), questions[-1])
        return texts.extractive_summary(locale, latest, topics)



def answer_locale(question: str, locale: str) -> str:
    """"en" for a question written in English, "ru" for one in Russian, else the widget's locale."""
    english = is_english_text(question)
    if english is None:
        return locale
    return "en" if english else "ru"


def wants_small_talk(text: str) -> bool:
    return is_greeting(text) or is_thanks(text)
