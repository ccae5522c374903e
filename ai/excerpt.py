"""The few sentences of an entry that answer the question, led by "Да"/"Нет" when they decide it.

A whole help article answers "Нужна ли своя машина?" with the car requirements; the visitor wanted
"Нет, можно взять в аренду". So an entry is cut into passages (a sentence, or a list with its
lead-in, which grammatically is one sentence), each passage is scored on the question's words
with the index's own weights, and the best one to three are shown in their original order.

Yes/no stays deliberately shallow and explainable: a negation count on each side ("не", "без",
"нельзя"), and a number the question gives against a bound the sentence states ("мне 19 лет" vs
"с 21 года"). Whenever the passage hedges ("только", "зависит", "уточните") there is no lead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ai.text import CONCEPT_PREFIX, Analyzer, normalize, word_set

MAX_PASSAGES = 3
MAX_CHARS = 420  # beyond this the visitor is better served by «Подробнее» than by a wall of text
RUNNER_UP_SHARE = 0.6  # a passage joins the best one when it scores at least this share of it
_TERMS_CACHE_SIZE = 8192

_ITEM = re.compile(r"^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"*(\[A-ZА-ЯЁ0-9])")
_ABBREVIATION = re.compile(
    r"(?:^|[\s*_(«])(?:[а-яёa-z]|ул|д|мин|макс|руб|тыс|стр|пн|вт|ср|чт|пт|сб|вс|т\. ?е|т\. ?д|др)\.$"
)
_MARKUP = re.compile(r"[*_`]+")
# Symbols that carry a concept the words around them may not: "от 1 900 ₽ в сутки" answers a price.
_SYMBOL_CONCEPTS = {"₽": "price", "руб": "price"}

YES_NO_RU = ("Да", "Нет")
YES_NO_EN = ("Yes", "No")
_RU_QUESTION_WORDS = word_set(
    "как какой какая какое какие каким какими каких какую какого каком какому каков какова каковы "
    "сколько скока скольки где когда куда откуда почему зачем что чего чем кто кого кому чей чья чьи почем почём"
)
_EN_QUESTION_WORDS = word_set("what how which where when who whom whose why")
# "можно работать без самозанятости" asks for a yes or a no even without "?" or "ли".
_RU_YES_NO_OPENERS = word_set("можно нужно нужна нужен нужны надо обязательно правда реально")
_EN_AUXILIARIES = word_set(
    "do does did is are was were am can could should will would must need have has may shall"
)
_NEGATORS = word_set("не нет нельзя без ни невозможно необязательно not no without cannot never")
# Words of obligation: "обязательно быть самозанятым?" is answered by the sentence that says what is a must.
_NECESSITY = re.compile(
    r"\b(обязательн\w*|нужн\w*|нужен|надо|необходим\w*|должн\w*|нельзя|must|need\w*|required?|mandatory)\b"
)
_SEGMENT = re.compile(r"\s[—–]\s|[,;:()]")
CONCEPT_MATCH = 0.8  # in a sentence, the question's own word beats a synonym of it ("справка" vs "медосмотр")
MODAL_BONUS = 0.3  # share of the heaviest question word, for a sentence that states a must or a must-not
_HEDGES = re.compile(
    r"\b(только|зависит|зависят|уточните|уточняйте|уточнит|по запросу|некоторых|некоторым|индивидуально|"
    r"only|depends|depend|some)\b"
)
_YEAR_WORD = r"(?:год|года|лет|years?)"
_QUESTION_YEARS = re.compile(rf"(\d{{1,2}})\s*{_YEAR_WORD}\b")
_QUESTION_MODEL_YEAR = re.compile(r"\b((?:19|20)\d\d)\b")
_LOWER_BOUND = re.compile(rf"\b(?:от|с|from|at least)\s+(\d{{1,2}})\s*{_YEAR_WORD}\b")
_MODEL_YEAR_BOUND = re.compile(r"\b(?:не старше|not older than|from)\s+((?:19|20)\d\d)\b")


@dataclass(frozen=True)
class Passage:
    markdown: str  # as shown: a sentence without its list marker, or a list with its lead-in
    clauses: tuple[str, ...]  # plain text of the sentence, or of the lead-in and each list item
    is_list: bool


def _plain(markdown: str) -> str:
    return _MARKUP.sub("", markdown).strip()


def _sentences(text: str) -> list[str]:
    parts: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if parts and _ABBREVIATION.search(parts[-1]):
            parts[-1] += " " + piece  # "г. Москва" is not two sentences
        elif piece:
            parts.append(piece)
    return parts


def _blocks(body: str) -> list[tuple[str, str, str]]:
    """(kind, marker, text) per paragraph or list item; wrapped lines are joined."""
    blocks: list[tuple[str, str, str]] = []
    open_block = False
    for line in body.splitlines():
        if not line.strip():
            open_block = False
            continue
        item = _ITEM.match(line)
        if item:
            marker = item.group(1) or f"{item.group(2)}."
            blocks.append(("bullet" if item.group(1) else "number", marker, item.group(3).strip()))
            open_block = True
        elif open_block and blocks:
            kind, marker, text = blocks[-1]
            blocks[-1] = (kind, marker, f"{text} {line.strip()}")
        else:
            blocks.append(("para", "", line.strip()))
            open_block = True
    return blocks


def split_passages(body: str) -> list[Passage]:
    """An entry's passages in order. Items ending with ";" (or numbered steps) stay one list with
    the sentence ending in ":" before them; an item ending with "." stands alone."""
    passages: list[Passage] = []
    blocks = _blocks(body)
    i = 0
    while i < len(blocks):
        kind, marker, text = blocks[i]
        lead = ""
        if kind == "para":
            sentences = _sentences(text)
            next_is_item = i + 1 < len(blocks) and blocks[i + 1][0] != "para"
            if next_is_item and sentences and sentences[-1].rstrip().endswith(":"):
                lead = sentences.pop()
            passages.extend(Passage(s, (_plain(s),), False) for s in sentences)
            i += 1
            if not lead:
                continue
        items: list[tuple[str, str]] = []
        first_kind = blocks[i][0] if i < len(blocks) else ""
        while i < len(blocks) and blocks[i][0] == first_kind:
            kind, marker, text = blocks[i]
            items.append((marker, text))
            i += 1
            if kind == "bullet" and not text.rstrip().endswith((";", ",", ":")):
                break
        if not lead and len(items) == 1:
            passages.extend(Passage(s, (_plain(s),), False) for s in _sentences(items[0][1]))
            continue
        lines = "\n".join(f"{m} {t}" for m, t in items)
        markdown = f"{lead}\n\n{lines}" if lead else lines
        clauses = ((_plain(lead),) if lead else ()) + tuple(_plain(t) for _, t in items)
        passages.append(Passage(markdown, clauses, True))
    return passages


Units = Sequence[tuple[dict[str, float], float]]  # (terms that count as the word, the word's weight)


class Excerpter:
    """Picks and phrases the answering passages of an entry."""

    def __init__(self, analyzer: Analyzer, proper_nouns: frozenset[str] = frozenset()) -> None:
        self._analyzer = analyzer
        self._proper_nouns = proper_nouns
        self._cache: dict[str, list[tuple[Passage, list[frozenset[str]]]]] = {}
        # Terms of a clause segment, asked for again by every question that reaches its passage.
        self._terms_cache: dict[str, frozenset[str]] = {}

    def _terms(self, text: str) -> frozenset[str]:
        cached = self._terms_cache.get(text)
        if cached is None:
            found = set(self._analyzer.terms(text))
            lowered = normalize(text)
            found.update(CONCEPT_PREFIX + c for symbol, c in _SYMBOL_CONCEPTS.items() if symbol in lowered)
            cached = frozenset(found)
            if len(self._terms_cache) >= _TERMS_CACHE_SIZE:
                self._terms_cache.clear()  # segments come from the base, so this bound is only a safety net
            self._terms_cache[text] = cached
        return cached

    def _passages(self, body: str) -> list[tuple[Passage, list[frozenset[str]]]]:
        cached = self._cache.get(body)
        if cached is None:
            cached = [(p, [self._terms(c) for c in p.clauses]) for p in split_passages(body)]
            self._cache[body] = cached
        return cached

    @staticmethod
    def _score(units: Units, terms: frozenset[str]) -> float:
        return sum(
            weight * max(
                (w * (CONCEPT_MATCH if t.startswith(CONCEPT_PREFIX) else 1.0) for t, w in unit.items() if t in terms),
                default=0.0,
            )
            for unit, weight in units
        )

    def _clause_score(self, question: str, units: Units, terms: frozenset[str], clause: str) -> float:
        score = self._score(units, terms)
        return score + self._modal_bonus(question, units, clause) if score else 0.0

    def _deciding_segment(self, units: Units, clause: str) -> str:
        """The part of a clause between commas and dashes that carries most of the question's words:
        "…, отчётов нет" must not turn an answer about self-employment into a "нет"."""
        segments = [seg for seg in _SEGMENT.split(clause) if seg.strip()] or [clause]
        return max(segments, key=lambda seg: self._score(units, self._terms(seg)))

    def _modal_bonus(self, question: str, units: Units, clause: str) -> float:
        if not units or not (_has_modal(question)):
            return 0.0
        return MODAL_BONUS * max(w for _, w in units) if _has_modal(self._deciding_segment(units, clause)) else 0.0

    def excerpt(self, body: str, question: str, units: Units, *, english: bool = False) -> tuple[str, bool]:
        """One to three passages of `body` that answer `question`, "Да, …"/"Нет, …" when they decide it,
        and whether they are the whole body (then there is nothing more to show)."""
        scored = self._passages(body)
        if not scored:
            return body, True
        text, shown = self._excerpt(scored, question, units, english)
        return text, shown == len(scored)

    def _excerpt(
        self, scored: list[tuple[Passage, list[frozenset[str]]]], question: str, units: Units, english: bool
    ) -> tuple[str, int]:
        clause_scores = [
            [
                self._clause_score(question, units, terms, clause)
                for terms, clause in zip(clause_terms, passage.clauses, strict=True)
            ]
            for passage, clause_terms in scored
        ]
        # A list is one sentence: its lead-in may say "для подключения" and an item "документ".
        scores = [
            max([*s, self._clause_score(question, units, frozenset().union(*terms), " ".join(passage.clauses))])
            for s, (passage, terms) in zip(clause_scores, scored, strict=True)
        ]
        best = max(range(len(scored)), key=lambda i: (scores[i], -i))
        if scores[best] <= 0.0:
            chosen = [0]  # only the heading or the context matched: the entry's lead sentence says most
        else:
            chosen = [best]
            for i in sorted(range(len(scored)), key=lambda i: (-scores[i], i)):
                if len(chosen) >= MAX_PASSAGES:
                    break
                if i in chosen or scores[i] < RUNNER_UP_SHARE * scores[best]:
                    continue
                if sum(len(scored[j][0].markdown) for j in chosen) + len(scored[i][0].markdown) > MAX_CHARS:
                    continue
                chosen.append(i)
        chosen.sort()
        verdict = None
        if is_yes_no(question):
            passage = scored[best][0]
            top_clause = max(range(len(passage.clauses)), key=lambda c: (clause_scores[best][c], -c))
            clause = passage.clauses[top_clause]
            verdict = decide(question, clause, self._deciding_segment(units, clause))
        if verdict is None:
            return _join([scored[i][0] for i in chosen]), len(chosen)
        # "Да"/"Нет" belongs to the passage that decided it, so that one comes first.
        text = _join([scored[best][0]] + [scored[i][0] for i in chosen if i != best])
        word = (YES_NO_EN if english else YES_NO_RU)[0 if verdict else 1]
        return f"{word}, {self._lower_first(text)}", len(chosen)

    def _lower_first(self, text: str) -> str:
        match = re.match(r"^([*_]*)(\w+)", text)
        if not match:
            return text
        word = match.group(2)
        if (word.isupper() and len(word) > 1) or word in self._proper_nouns or word == "I":
            return text  # "СТС", "Яндекс", "I" keep their capital
        start = match.start(2)
        return text[:start] + text[start].lower() + text[start + 1 :]


def _join(passages: Sequence[Passage]) -> str:
    """Sentences run on as one paragraph; a list keeps its lines."""
    out: list[str] = []
    prose = False
    for passage in passages:
        if passage.is_list:
            out.append(("\n\n" if out else "") + passage.markdown)
            prose = False
        else:
            out.append((" " if prose else "\n\n" if out else "") + passage.markdown)
            prose = True
    return "".join(out).strip()


def proper_nouns(texts: Sequence[str]) -> frozenset[str]:
    """Words written with a capital inside a sentence: names ("Яндекс", "Kia") that keep it after "Да, "."""
    found: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            item = _ITEM.match(line)
            for sentence in _sentences(_plain(item.group(3) if item else line)):
                for word in re.findall(r"(?<=[\s(«\"/])([A-ZА-ЯЁ]\w+)", sentence):
                    found.add(word)
    return frozenset(found)


def is_yes_no(question: str) -> bool:
    """A question a "да"/"нет" answers: "нужна ли …", "… возьмёте?", "do I need …". Not "… или …?"."""
    text = normalize(question)
    tokens = re.findall(r"[a-zа-я]+", text)
    if not tokens or "или" in tokens or "or" in tokens:
        return False
    if tokens[0] in _EN_AUXILIARIES or tokens[0] in _RU_YES_NO_OPENERS:
        return True
    if any(t in _RU_QUESTION_WORDS for t in tokens) or tokens[0] in _EN_QUESTION_WORDS:
        return False
    return "ли" in tokens or text.rstrip().endswith("?")


def _negations(text: str) -> int:
    tokens = re.findall(r"[a-zа-я']+", normalize(text))
    return sum(t in _NEGATORS or t.endswith("n't") for t in tokens)


@lru_cache(maxsize=8192)  # asked of the same question once per clause of every passage
def _has_modal(text: str) -> bool:
    lowered = normalize(text)
    return _negations(lowered) > 0 or bool(_NECESSITY.search(lowered))


def decide(question: str, clause: str, segment: str | None = None) -> bool | None:
    """True for yes, False for no, None when the clause does not settle it.

    Numbers are compared on the whole clause; negations are counted in `segment`, the part of
    the clause that is about the question (the whole clause when not given)."""
    lowered = normalize(clause)
    if _HEDGES.search(lowered):
        return None
    asked = normalize(question)
    bound = _LOWER_BOUND.search(lowered)
    given = _QUESTION_YEARS.findall(asked)
    if bound and len(given) == 1:
        return int(given[0]) >= int(bound.group(1))
    model_bound = _MODEL_YEAR_BOUND.search(lowered)
    model_years = _QUESTION_MODEL_YEAR.findall(asked)
    if model_bound and len(model_years) == 1:
        return int(model_years[0]) >= int(model_bound.group(1))
    if given or model_years:
        return None  # the question gives a number the clause does not bound: no guessing
    return _negations(asked) % 2 == _negations(segment if segment is not None else clause) % 2
