"""Finding the entry a question is about: BM25 retrieval over the knowledge base's entries.

BM25 rather than embeddings because the service must run with no model files and no network,
the base is a few dozen short entries edited by non-programmers, and a bad match has to be
explainable ("which words matched") when the fleet asks why the bot answered what it did.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ai.entries import Entry, _markdown_files, load_entries
from ai.excerpt import Excerpter, proper_nouns
from ai.text import CONCEPT_PREFIX, Analyzer, Unit

log = logging.getLogger(__name__)

# A heading is the question its entry answers, so it is scored as a field of its own and added
# on top of the body: folded into one bag of words, BM25 saturation would flatten it.
HEADING_BOOST = 2.5
BM25_K1 = 1.2
BM25_B = 0.75
PREFIX_MATCH_WEIGHT = 0.7  # "подключиться" vs "подключение": related, but less sure than a real match
# Weight of a question word the base has never seen, as a share of the idf of an unseen term
# (about 2.6 for a 25-entry base, where a word in one entry has 2.9 and one in half of them 0.7).
# Off-topic questions are made of such words; real questions carry some too ("покупать",
# "вносить"), so one must not outweigh a specific domain word.
UNKNOWN_WORD_SHARE = 0.65
CONTEXT_WEIGHT = 0.3  # the previous user message only nudges ranking, it never makes an answer confident

# What Snowball leaves of Russian suffixes ("подключ"/"подключен", "получ"/"получа"): a related stem
# may only differ by these, so "прост" (простой) does not reach "простуд" (простуда).
_SUFFIX_LETTERS = frozenset("аеиоуыэюяйнлвтсь")
# Bounds of the per-index memos: distinct words (related stems) and distinct texts (a question's words).
_WORD_CACHE_SIZE = 16384
_TEXT_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Match:
    entry: Entry
    score: float  # ranking score: BM25 times coverage, plus context; comparable within one search only
    coverage: float  # 0..1 share of the question's informative words found in the entry



class KnowledgeIndex:
    """BM25 over two fields, heading and body, with concept terms from the synonym groups."""

    def __init__(self, entries: Sequence[Entry], analyzer: Analyzer | None = None) -> None:
        self.entries = tuple(entries)
        self._analyzer = analyzer or Analyzer()
        self._body = _Field([Counter(self._analyzer.terms(e.search_text)) for e in self.entries])
        self._heading = _Field([Counter(self._analyzer.terms(e.topic)) for e in self.entries])
        self._df: Counter[str] = Counter()
        for body, heading in zip(self._body.tf, self._heading.tf, strict=True):
            self._df.update(body.keys() | heading.keys())
        self._stems = sorted(t for t in self._df if not t.startswith(CONCEPT_PREFIX))
        self._related_cache: dict[str, tuple[str, ...]] = {}
        names = proper_nouns([text for e in self.entries for text in (e.topic, e.body, e.en_topic, e.en_body)])
        self.excerpter = Excerpter(self._analyzer, names)
        # Everything a search reads that depends on the base alone is worked out here, once per (re)build, so a
        # question costs only its own words: the idf of every known term, and per term the entries holding it
        # with their two-field BM25 (the same float expressions a search used to evaluate per entry and term).
        self._idf = {term: self._compute_idf(term) for term in self._df}
        self._unseen_idf = self._compute_idf("")
        self._postings: dict[str, tuple[tuple[int, float], ...]] = {
            term: tuple(
                (doc, self._body.score(doc, term) + HEADING_BOOST * self._heading.score(doc, term))
                for doc in range(len(self.entries))
                if term in self._body.tf[doc] or term in self._heading.tf[doc]
            )
            for term in self._df
        }
        # The first entry whose heading or chip text a question is word for word (chips send exactly that).
        self.asked: dict[str, Entry] = {}
        for entry in self.entries:
            for text in (entry.topic, entry.question(), entry.en_topic, entry.question(english=True)):
                if text:
                    self.asked.setdefault(_plain(text), entry)
        self.by_topic = {entry.topic: entry for entry in self.entries}
        self._units_cache: dict[str, list[tuple[dict[str, float], float]]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def _compute_idf(self, term: str) -> float:
        n = len(self.entries)
        df = self._df.get(term, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def idf(self, term: str) -> float:
        known = self._idf.get(term)
        return self._unseen_idf if known is None else known

    def _related_stems(self, stem: str) -> tuple[str, ...]:
        """Known stems of the same root, for derivations Snowball keeps apart."""
        cached = self._related_cache.get(stem)
        if cached is not None:
            return cached
        found: list[str] = []
        if len(stem) >= 4:
            for known in self._stems:
                if known == stem:
                    continue
                shorter, longer = sorted((stem, known), key=len)
                if len(shorter) < 4:
                    continue
                if (
                    longer.startswith(shorter)
                    and len(longer) - len(shorter) <= 3
                    and _SUFFIX_LETTERS.issuperset(longer[len(shorter) :])
                ):
                    found.append(known)
                    continue
                common = len(_common_prefix(stem, known))
                if common >= 5 and common >= 0.75 * len(longer):
                    found.append(known)
        result = tuple(found)
        if len(self._related_cache) >= _WORD_CACHE_SIZE:
            self._related_cache.clear()  # questions bring endless new words; a stem is quick to redo
        self._related_cache[stem] = result
        return result

    def _unit_terms(self, unit: Unit) -> dict[str, float]:
        weights = dict.fromkeys(unit.terms, 1.0)
        if not unit.stem.startswith(CONCEPT_PREFIX):
            for related in self._related_stems(unit.stem):
                weights.setdefault(related, PREFIX_MATCH_WEIGHT)
        return weights

    def _unit_weight(self, terms: dict[str, float]) -> float:
        known = [self._idf[t] for t in terms if t in self._idf]
        return max(known) if known else UNKNOWN_WORD_SHARE * self._unseen_idf

    def _unit_scores(self, terms: dict[str, float]) -> tuple[dict[int, float], dict[int, float]]:
        """Per entry holding any of the terms: the best of weight × idf × fields over them, and the best weight
        (1 when the entry has the word or its concept, less when only a related stem). Absent entries: 0."""
        best: dict[int, float] = {}
        found: dict[int, float] = {}
        for term, weight in terms.items():
            postings = self._postings.get(term)
            if postings is None:
                continue
            scaled = weight * self._idf[term]
            for doc, fields in postings:
                score = scaled * fields
                if score > best.get(doc, 0.0):
                    best[doc] = score
                if weight > found.get(doc, 0.0):
                    found[doc] = weight
        return best, found

    def question_units(self, question: str) -> list[tuple[dict[str, float], float]]:
        """The question's informative words: the terms that count as each, and its weight.

        Worked out once per text and index (a search and its excerpt both need them); callers only read them."""
        cached = self._units_cache.get(question)
        if cached is None:
            units = [self._unit_terms(u) for u in self._analyzer.units(question)]
            cached = [(terms, self._unit_weight(terms)) for terms in units]
            if len(self._units_cache) >= _TEXT_CACHE_SIZE:
                self._units_cache.clear()
            self._units_cache[question] = cached
        return cached

    def search(self, question: str, context: str = "", limit: int = 3) -> list[Match]:
        """Entries ranked by BM25 and coverage; coverage is computed on the question alone."""
        if not self.entries:
            return []
        question_units = self.question_units(question)
        if not question_units:
            return []
        context_units = self.question_units(context) if context else []
        total_weight = sum(w for _, w in question_units)
        # Each question word counts once, through its best-matching term: otherwise a word
        # found both literally and as its concept would count twice as much as a rare word
        # found only literally ("паспорт и права": "права" must not drown "паспорт").
        # Only entries that hold some term can score; the others add 0.0 per word, which changes no sum.
        unit_scores, unit_found = zip(*(self._unit_scores(terms) for terms, _ in question_units), strict=True)
        context_scores = [self._unit_scores(terms)[0] for terms, _ in context_units]
        candidates = sorted(set().union(*unit_scores, *context_scores))

        matches: list[Match] = []
        for doc in candidates:
            score = sum(scores.get(doc, 0.0) for scores in unit_scores)
            context_score = CONTEXT_WEIGHT * sum(scores.get(doc, 0.0) for scores in context_scores)
            if score + context_score <= 0.0:
                continue
            covered = sum(w * found.get(doc, 0.0) for (_, w), found in zip(question_units, unit_found, strict=True))
            coverage = covered / total_weight
            # Coverage also ranks: an entry that explains every word of the question beats one
            # that repeats a single word of it many times. Context stays outside that product so
            # a follow-up whose own words match nothing ("а на какой срок?") still ranks the
            # entry of the previous question first, for the model's grounding.
            matches.append(Match(self.entries[doc], score * coverage + context_score, coverage))
        matches.sort(key=lambda m: m.score, reverse=True)
        return matches[:limit]


class _Field:
    """Term frequencies of one field of every entry, with BM25 length normalization."""

    def __init__(self, tf: list[Counter[str]]) -> None:
        self.tf = tf
        lengths = [float(sum(c.values())) for c in tf]
        average = (sum(lengths) / len(lengths)) if lengths else 1.0
        self._norm = [BM25_K1 * (1.0 - BM25_B + BM25_B * length / (average or 1.0)) for length in lengths]

    def score(self, doc: int, term: str) -> float:
        freq = self.tf[doc].get(term, 0)
        return freq * (BM25_K1 + 1.0) / (freq + self._norm[doc]) if freq else 0.0


def _common_prefix(a: str, b: str) -> str:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return a[:size]


class KnowledgeBase:
    """The index of a knowledge directory, rebuilt when a file is added, removed or changed.

    Files are stat-ed at most every `check_interval` seconds so a busy chat does not hit the
    disk on every question; editing a file takes effect without restarting the service.
    """

    def __init__(self, path: Path, analyzer: Analyzer | None = None, check_interval: float = 2.0) -> None:
        self.path = Path(path)
        self._analyzer = analyzer or Analyzer()
        self._check_interval = check_interval
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked_at = -math.inf
        self._index = KnowledgeIndex((), self._analyzer)
        self._refresh(force=True)

    def _current_signature(self) -> tuple[tuple[str, int, int], ...]:
        signature = []
        for file in _markdown_files(self.path):
            stat = file.stat()
            signature.append((str(file), stat.st_mtime_ns, stat.st_size))
        return tuple(signature)

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < self._check_interval:
            return
        with self._lock:
            self._checked_at = now
            try:
                signature = self._current_signature()
                if signature == self._signature:
                    return
                index = KnowledgeIndex(load_entries(self.path), self._analyzer)
            except OSError as exc:
                # Keep answering from the last good index: a half-saved file must not take the bot down.
                log.warning("cannot read knowledge base %s: %s", self.path, exc)
                return
            if not index.entries:
                log.warning("knowledge base %s has no `## ` entries; every answer will offer a manager", self.path)
            else:
                log.info("knowledge base %s loaded: %d entries", self.path, len(index.entries))
            topics = {entry.topic for entry in index.entries}
            for entry in index.entries:
                missing = [name for name in entry.see_also if name not in topics]
                if missing:
                    log.warning("knowledge entry %r: see also %s, which the base lacks", entry.topic, missing)
            self._signature, self._index = signature, index

    @property
    def index(self) -> KnowledgeIndex:
        self._refresh()
        return self._index


def _plain(text: str) -> str:
    return " ".join(text.casefold().replace("ё", "е").split()).rstrip("?!. ")
