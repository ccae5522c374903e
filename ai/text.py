"""Turning Russian/English text into search terms.

Russian inflects heavily ("права", "прав", "правами"), so exact word matching misses most
paraphrases; Snowball stemming folds word forms together cheaply and offline. What stemming
cannot fold (different words for one thing: "права" / "водительское удостоверение", "бумаги" /
"документы") is handled by domain synonym groups that add a shared concept term.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from ai.synonyms import DOMAIN_SYNONYMS

CONCEPT_PREFIX = "~"

_WORD = re.compile(r"[a-zа-я0-9]+")
_CYRILLIC = re.compile(r"[а-я]")

_RU_STEMMER = snowballstemmer.stemmer("russian")
_EN_STEMMER = snowballstemmer.stemmer("english")

# Function words plus the filler of chat questions ("подскажите, пожалуйста, а можно ли ..."):
# left in, they would count as words the knowledge base does not know and drag confidence down.
def word_set(text: str) -> frozenset[str]:
    """Whitespace-separated words: long word lists stay readable as plain text."""
    return frozenset(text.split())


RU_STOP_WORDS = word_set(
    """
    а без более бы был была были было быть в вам вас ваш ваша ваше ваши вами весь во вот все всего
    всех всю вы где да даже для до его ее ей ему если есть еще же за зачем здесь и из или им их к
    как какая какие каким каких какое какой какую какого каком какому каков какова кем когда кого кто
    куда ли либо мне меня мной мы
    на над надо нам нас наш не него нее ней нельзя нет ни нибудь них ничего но ну о об обо он она
    они оно от по под после при про раз с со так такая также такие такой там те тем то тогда того
    тоже той только том ту тут ты у уж уже хоть чего чем через что чтоб чтобы чье эта эти это этого
    этой этом эту я

    подскажите подскажи скажите скажи расскажите расскажи объясните поясните уточните пожалуйста
    пожалуй плиз пжл пж спасибо хочу хочется хотел хотела хотели хотим хотелось интересует
    интересно интересуюсь вопрос вопросы вопросик вообще вобще просто примерно вроде типа ведь
    значит кстати можно могу могут может сможете сможет можете возможно нужно нужен нужна нужны
    нужен надо требуется необходимо обязательно сколько скока почему ли сейчас тоже еще
    подойдет подойду подхожу подходит подходят подойдут устроит годится получится реально
    нормально ок окей ладно понятно ясно хорошо добрый доброе доброй привет
    здравствуйте здравствуй здрасте здрасьте приветствую алло хай салют ребята бот
    доступно доступны доступен доступна имеется имеются бывает бывают
    мой моя мое мои сам сама сами самому самой делать сделать делаю делают должна должен должно должны ilpo илпо taxi
    """
)

# Verb stems too generic to search by, whatever their form ("что делать", "кто делает").
STOP_STEMS = word_set("дела сдела")

EN_STOP_WORDS = word_set(
    """
    a about am an and any are as at be been but by can could do does did for from get got have has
    how i if in into is it its me my of on or our please so some tell than that the their them then
    there these this to us was we were what when where which who why will with would you your
    hi hello hey thanks thank ok okay want need like much many know work working job
    """
)

STOP_WORDS = RU_STOP_WORDS | EN_STOP_WORDS


def normalize(text: str) -> str:
    return text.lower().replace("ё", "е")


# Forms Snowball stems inconsistently with their siblings ("опыт" -> "оп" but "опыта" -> "опыт";
# "день" -> "ден", "дня" -> "дн", "дней" -> "дне"), so questions and answers would never meet.
STEM_EXCEPTIONS: dict[str, str] = {
    "опыт": "опыт",
    **dict.fromkeys(("день", "дня", "дню", "днем", "дней", "дням", "днями", "днях"), "дн"),
}


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Stem one normalized word with the stemmer of its alphabet."""
    if word in STEM_EXCEPTIONS:
        return STEM_EXCEPTIONS[word]
    if _CYRILLIC.search(word):
        return str(_RU_STEMMER.stemWord(word))
    return str(_EN_STEMMER.stemWord(word))


_LATIN_WORD = re.compile(r"[a-z]{2,}")
_CYRILLIC_WORD = re.compile(r"[а-я]{2,}")


def is_english_text(text: str) -> bool | None:
    """True when Latin words outnumber Cyrillic ones, False for the reverse, None for neither."""
    lowered = normalize(text)
    latin, cyrillic = len(_LATIN_WORD.findall(lowered)), len(_CYRILLIC_WORD.findall(lowered))
    if latin == cyrillic:
        return None
    return latin > cyrillic


def words(text: str) -> list[str]:
    """Normalized words; bare numbers are dropped because "мне 19 лет" is about age, not 19."""
    return [w for w in _WORD.findall(normalize(text)) if not w.isdigit()]


@dataclass(frozen=True)
class Unit:
    """One informative word of a question with every term that counts as finding it."""

    stem: str
    concepts: frozenset[str]

    @property
    def terms(self) -> frozenset[str]:
        return self.concepts | {self.stem}


@dataclass(frozen=True)
class _Element:
    exact: bool  # "=права": match this surface form only, its stem is shared with unrelated words
    value: str

    def matches(self, surface: str, stemmed: str) -> bool:
        return surface == self.value if self.exact else stemmed == self.value


class Analyzer:
    """Splits text into stemmed content words and adds concept terms for synonym phrases."""

    def __init__(self, synonyms: Mapping[str, Sequence[str]] = DOMAIN_SYNONYMS) -> None:
        self._phrases: dict[str, list[tuple[tuple[_Element, ...], str]]] = {}
        for concept, phrases in synonyms.items():
            term = CONCEPT_PREFIX + concept
            for phrase in phrases:
                elements = tuple(self._element(w) for w in phrase.split())
                if elements:
                    self._phrases.setdefault(elements[0].value, []).append((elements, term))

    @staticmethod
    def _element(raw: str) -> _Element:
        if raw.startswith("="):
            return _Element(exact=True, value=normalize(raw[1:]))
        return _Element(exact=False, value=stem(normalize(raw)))

    def _phrase_hits(self, surfaces: Sequence[str], stems: Sequence[str]) -> list[tuple[int, int, str]]:
        """(start, end, concept term) for every synonym phrase occurring in the word sequence."""
        hits: list[tuple[int, int, str]] = []
        for start in range(len(surfaces)):
            for key in {surfaces[start], stems[start]}:
                for elements, term in self._phrases.get(key, ()):
                    end = start + len(elements)
                    if end <= len(surfaces) and all(
                        el.matches(surfaces[i], stems[i])
                        for i, el in zip(range(start, end), elements, strict=True)
                    ):
                        hits.append((start, end, term))
        return hits

    def units(self, text: str) -> list[Unit]:
        """Content words of `text` (deduplicated by stem, in order) with their concepts."""
        surfaces = words(text)
        stems = [stem(w) for w in surfaces]
        concepts: list[set[str]] = [set() for _ in surfaces]
        orphan_concepts: list[str] = []
        for start, end, term in self._phrase_hits(surfaces, stems):
            covered = [i for i in range(start, end) if surfaces[i] not in STOP_WORDS]
            for i in covered:
                concepts[i].add(term)
            if not covered:
                # A phrase made only of function words ("how much", "как часто") still means something.
                orphan_concepts.append(term)
        merged: dict[str, set[str]] = {}
        for surface, stemmed, extra in zip(surfaces, stems, concepts, strict=True):
            if surface in STOP_WORDS or stemmed in STOP_STEMS or (len(stemmed) < 2 and not extra):
                continue
            merged.setdefault(stemmed, set()).update(extra)
        for term in orphan_concepts:
            merged.setdefault(term, set()).add(term)
        return [Unit(stem=s, concepts=frozenset(c)) for s, c in merged.items()]

    def terms(self, text: str) -> list[str]:
        """Every stem and concept occurrence, for indexing documents (term frequency matters)."""
        surfaces = words(text)
        stems = [stem(w) for w in surfaces]
        found = [s for w, s in zip(surfaces, stems, strict=True) if w not in STOP_WORDS and s not in STOP_STEMS]
        found.extend(term for _, _, term in self._phrase_hits(surfaces, stems))
        return found
