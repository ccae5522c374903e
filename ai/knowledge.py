"""Offline consultant: BM25 retrieval over a Markdown knowledge base.

BM25 rather than embeddings because the service must run with no model files and no network,
the base is a few dozen short entries edited by non-programmers, and a bad match has to be
explainable ("which words matched") when the fleet asks why the bot answered what it did.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ai import texts
from ai.base import DEFAULT_THRESHOLD, AIAnswer, AnswerStream, Turn
from ai.excerpt import Excerpter, proper_nouns
from ai.text import CONCEPT_PREFIX, Analyzer, Unit, is_english_text, word_set, words

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

_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")
# `### EN: Heading` inside an entry starts its English version, shown to visitors who ask in English.
_EN_HEADING = re.compile(r"^###\s+EN:\s*(.+?)\s*#*\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
# `<!-- chip -->` (or `<!-- chip: Text -->`) makes an entry one of the questions the widget offers when it opens;
# `<!-- see also: Heading | Heading -->` names the entries offered as chips after its answer. Neither is search text.
_DIRECTIVE = re.compile(r"<!--\s*(chip|see also)\s*(?::\s*(.*?))?\s*-->", re.IGNORECASE | re.DOTALL)
MAX_QUICK_REPLIES = 4  # the widget's opening chips
MAX_RELATED_CHIPS = 3  # chips after an answer
# Beyond its "see also", an answer offers the entries the question matched nearly as well as the one answered:
# a far second ("Медосмотр" for "какие документы нужны") shares a word, not a subject.
RELATED_SCORE_SHARE = 0.5
# Bounds of the per-index memos: distinct words (related stems) and distinct texts (a question's words, answers).
_WORD_CACHE_SIZE = 16384
_TEXT_CACHE_SIZE = 4096
ANSWER_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Entry:
    topic: str  # the `## ` heading
    body: str  # Markdown shown to the visitor, hidden comments removed
    search_text: str  # body plus the hidden comments, which exist to carry extra search words
    source: Path
    en_topic: str = ""  # the `### EN:` heading, when the entry has an English version
    en_body: str = ""
    chip: bool = False  # one of the top questions, offered as a chip when the widget opens
    chip_text: str = ""  # the chip's own wording (`<!-- chip: … -->`), else the heading
    en_chip_text: str = ""  # the same under `### EN:`
    see_also: tuple[str, ...] = ()  # headings of the entries to offer after this one's answer

    def question(self, english: bool = False) -> str | None:
        """What a chip for this entry says (and sends); None in English when the entry has no English text."""
        if english:
            return (self.en_chip_text or self.en_topic) if self.en_body else None
        return self.chip_text or self.topic

    def markdown(self, english: bool = False) -> str:
        """The whole entry as the visitor sees it: heading and body, in English when asked and written."""
        if english and self.en_body:
            return f"**{self.en_topic}**\n\n{self.en_body}"
        return f"**{self.topic}**\n\n{self.body}"


@dataclass(frozen=True)
class Match:
    entry: Entry
    score: float  # ranking score: BM25 times coverage, plus context; comparable within one search only
    coverage: float  # 0..1 share of the question's informative words found in the entry


def parse_markdown(text: str, source: Path) -> list[Entry]:
    """One entry per `## ` heading; anything before the first heading (title, notes) is skipped."""
    entries: list[Entry] = []
    topic: str | None = None
    en_topic = ""
    lines: list[str] = []
    en_lines: list[str] = []
    in_fence = False

    def clean(raw_lines: list[str]) -> tuple[str, str, list[tuple[str, str]]]:
        raw = "\n".join(raw_lines).strip()
        directives = [(kind.lower(), (value or "").strip()) for kind, value in _DIRECTIVE.findall(raw)]
        raw = _DIRECTIVE.sub("", raw)
        return (re.sub(r"\n{3,}", "\n\n", _COMMENT.sub("", raw)).strip(), " ".join(_COMMENT.findall(raw)),
                directives)

    def flush() -> None:
        if topic is None:
            return
        body, hidden, directives = clean(lines)
        en_body, _, en_directives = clean(en_lines)
        if body:
            # The English text stays out of the index: it would double some entries' length and shift
            # BM25 for Russian questions; English questions already meet entries through the synonyms.
            search_text = f"{body}\n{hidden}"
            chips = [value for kind, value in directives if kind == "chip"]
            en_chips = [value for kind, value in en_directives if kind == "chip"]
            see_also = tuple(name.strip() for kind, value in directives + en_directives if kind == "see also"
                             for name in value.split("|") if name.strip())
            entries.append(Entry(topic=topic, body=body, search_text=search_text, source=source,
                                 en_topic=en_topic if en_body else "", en_body=en_body,
                                 chip=bool(chips or en_chips), chip_text=next(filter(None, chips), ""),
                                 en_chip_text=next(filter(None, en_chips), ""), see_also=see_also))
        else:
            log.warning("knowledge entry %r in %s has no text, skipped", topic, source)

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        english = None if in_fence or topic is None else _EN_HEADING.match(line)
        if heading:
            flush()
            topic, lines, en_topic, en_lines = heading.group(1).strip(), [], "", []
        elif english:
            en_topic = english.group(1).strip()
        elif en_topic:
            en_lines.append(line)
        else:
            lines.append(line)
    flush()
    return entries


def _markdown_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.md") if p.is_file())


def load_entries(path: Path) -> list[Entry]:
    """Entries of every `*.md` in a directory (sorted by name), or of a single file."""
    entries: list[Entry] = []
    for file in _markdown_files(path):
        entries.extend(parse_markdown(file.read_text(encoding="utf-8", errors="replace"), file))
    return entries


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


def _plain(text: str) -> str:
    return " ".join(text.casefold().replace("ё", "е").split()).rstrip("?!. ")


def answer_locale(question: str, locale: str) -> str:
    """"en" for a question written in English, "ru" for one in Russian, else the widget's locale."""
    english = is_english_text(question)
    if english is None:
        return locale
    return "en" if english else "ru"


def wants_small_talk(text: str) -> bool:
    return is_greeting(text) or is_thanks(text)
