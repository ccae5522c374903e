"""The offline consultant's precomputed postings and memoised answers change no answer.

The reference is computed here, in the same test: the per-entry BM25 loop the index used before it had postings,
with every memo emptied before each question and no answer memo. The consultant under test answers every
question of the bench's labelled sets (with and without history, in both locales) twice, memos cold then warm.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from ai import AIAnswer, KnowledgeConsultant, Turn
from ai.knowledge import (
    CONTEXT_WEIGHT,
    HEADING_BOOST,
    UNKNOWN_WORD_SHARE,
    KnowledgeBase,
    KnowledgeIndex,
    Match,
    previous_user_text,
)

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
sys.path.insert(0, str(ROOT / "bench"))
from ai_knowledge_bench import load_answer_rows, load_rows  # noqa: E402

BENCH_QUESTIONS = [row.question for row in load_rows(ROOT / "bench" / "data" / "ai_questions.tsv")] + [
    row.question for row in load_answer_rows(ROOT / "bench" / "data" / "ai_answers.tsv")
]
EXTRA_QUESTIONS = [
    "Сколько вы берёте комиссию?",  # the question of bench/scale.py's throughput part
    "Добрый день! а залог какой?",
    "а на какой срок?",
    "привет",
    "спасибо большое",
    "",
    "Hello, how much is the rent?",
    "Комиссия парка",  # a heading sent verbatim, as its chip does
]
HISTORIES: list[list[Turn]] = [
    [],
    [Turn("user", "Сколько стоит аренда машины?"), Turn("assistant", "От 1 900 ₽ в сутки.")],
    [Turn("user", "Добрый день! Какая у вас комиссия?")],
    [Turn("user", "Нужна ли своя машина?"), Turn("assistant", "Нет."), Turn("user", "спасибо")],
]


class ReferenceIndex(KnowledgeIndex):
    """The search as it was before postings: every entry scored term by term, nothing remembered."""

    def _reference_unit_score(self, doc: int, terms: dict[str, float]) -> float:
        best = 0.0
        for term, weight in terms.items():
            if term in self._df:
                fields = self._body.score(doc, term) + HEADING_BOOST * self._heading.score(doc, term)
                best = max(best, weight * self._compute_idf(term) * fields)
        return best

    def _reference_unit_weight(self, terms: dict[str, float]) -> float:
        known = [self._compute_idf(t) for t in terms if t in self._df]
        return max(known) if known else UNKNOWN_WORD_SHARE * self._compute_idf("")

    def _reference_unit_found(self, doc: int, terms: dict[str, float]) -> float:
        body, heading = self._body.tf[doc], self._heading.tf[doc]
        return max((w for t, w in terms.items() if t in body or t in heading), default=0.0)

    def question_units(self, question: str) -> list[tuple[dict[str, float], float]]:
        self._related_cache.clear()
        units = [self._unit_terms(u) for u in self._analyzer.units(question)]
        return [(terms, self._reference_unit_weight(terms)) for terms in units]

    def search(self, question: str, context: str = "", limit: int = 3) -> list[Match]:
        self._related_cache.clear()
        self.excerpter._terms_cache.clear()
        if not self.entries:
            return []
        units = [self._unit_terms(u) for u in self._analyzer.units(question)]
        if not units:
            return []
        context_units = [self._unit_terms(u) for u in self._analyzer.units(context)] if context else []
        unit_weights = [self._reference_unit_weight(terms) for terms in units]
        total_weight = sum(unit_weights)
        matches: list[Match] = []
        for doc in range(len(self.entries)):
            score = sum(self._reference_unit_score(doc, terms) for terms in units)
            context_score = CONTEXT_WEIGHT * sum(self._reference_unit_score(doc, terms) for terms in context_units)
            if score + context_score <= 0.0:
                continue
            covered = sum(w * self._reference_unit_found(doc, t) for t, w in zip(units, unit_weights, strict=True))
            matches.append(Match(self.entries[doc], score * (covered / total_weight) + context_score,
                                 covered / total_weight))
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches[:limit]


def reference_consultant(path: Path = KNOWLEDGE) -> KnowledgeConsultant:
    consultant = KnowledgeConsultant(path, answer_cache_size=0, check_interval=3600.0)
    base = consultant.knowledge
    base._index = ReferenceIndex(base._index.entries)  # same entries, same signature: never rebuilt here
    return consultant


def cases() -> list[tuple[str, list[Turn], str]]:
    found = []
    for question in BENCH_QUESTIONS + EXTRA_QUESTIONS:
        for history in HISTORIES:
            for locale in ("ru", "en"):
                found.append((question, history, locale))
    return found


def answers(consultant: KnowledgeConsultant, asked: Sequence[tuple[str, list[Turn], str]]) -> list[AIAnswer]:
    return [consultant.consult(question, history, locale) for question, history, locale in asked]


@pytest.mark.parametrize("short_answers", [True, False])
def test_every_bench_answer_equals_the_unremembered_reference(short_answers: bool) -> None:
    asked = cases()
    reference = reference_consultant()
    reference.short_answers = short_answers
    expected = answers(reference, asked)
    consultant = KnowledgeConsultant(KNOWLEDGE, short_answers=short_answers, check_interval=3600.0)
    cold = answers(consultant, asked)
    warm = answers(consultant, asked)
    assert len(consultant._answers) > 0, "the warm pass must come from the memo"
    for (question, history, locale), want, first, again in zip(asked, expected, cold, warm, strict=True):
        assert first == want, (question, history, locale)
        assert again == want, (question, history, locale)


def test_search_scores_are_the_reference_scores_exactly() -> None:
    reference, index = reference_consultant().knowledge.index, KnowledgeBase(KNOWLEDGE).index
    for question in BENCH_QUESTIONS + EXTRA_QUESTIONS:
        for context in ("", "а залог какой?", "Сколько стоит аренда машины?"):
            want = [(m.entry.topic, m.score, m.coverage) for m in reference.search(question, context, limit=25)]
            for _ in range(2):  # memos cold, then warm
                got = [(m.entry.topic, m.score, m.coverage) for m in index.search(question, context, limit=25)]
                assert got == want, (question, context)


def test_the_memo_key_holds_the_previous_question_locale_and_settings() -> None:
    """Every input that changes the reference's answer changes the memoised one too."""
    consultant, reference = KnowledgeConsultant(KNOWLEDGE, check_interval=3600.0), reference_consultant()
    follow_up = "а на какой срок?"
    by_history = {}
    for history in HISTORIES:
        want = reference.consult(follow_up, history)
        assert consultant.consult(follow_up, history) == want
        by_history[previous_user_text(follow_up, history)] = want
    assert len(set(by_history.values())) > 1, "the previous question must matter to this follow-up"
    wordless = "???"  # no words: the widget's locale decides the reply's language
    for locale in ("ru", "en"):
        assert consultant.consult(wordless, [], locale) == reference.consult(wordless, [], locale)
    assert consultant.consult(wordless, [], "ru") != consultant.consult(wordless, [], "en")
    # Its best entry covers 2/3 of its words: answered at the default threshold, not sure at 0.9.
    question = "сколько идет вывод на карту"
    before = consultant.consult(question)
    assert before.confident
    consultant.threshold = reference.threshold = 0.9
    assert consultant.consult(question) == reference.consult(question) != before
    consultant.short_answers = reference.short_answers = False
    assert consultant.consult(question) == reference.consult(question)


def test_a_rebuilt_index_forgets_remembered_answers(tmp_path: Path) -> None:
    base = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, base)
    consultant = KnowledgeConsultant(base, check_interval=0.0)
    question = "Сколько вы берёте комиссию?"
    first = consultant.consult(question)
    assert first.confident and first.topics == ("Комиссия парка",)
    for file in base.glob("*.md"):
        text = file.read_text(encoding="utf-8")
        if "## Комиссия парка" in text:
            file.write_text(text.replace("## Комиссия парка", "## Удержания парка"), encoding="utf-8")
    second = consultant.consult(question)
    assert second.topics == ("Удержания парка",)
    assert second == reference_consultant(base).consult(question)


def test_the_memo_is_bounded_and_evicts_the_least_recently_asked() -> None:
    consultant, reference = KnowledgeConsultant(KNOWLEDGE, answer_cache_size=3), reference_consultant()
    asked = BENCH_QUESTIONS[:6]
    for question in asked + asked[:2]:
        assert consultant.consult(question) == reference.consult(question)
        assert len(consultant._answers) <= 3
    assert [key[0] for key in consultant._answers] == [asked[5], asked[0], asked[1]]
