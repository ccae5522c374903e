"""When to offer the live manager: the visitor asked for a person, or the AI keeps missing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ai.text import normalize

# Whom a visitor asks for. Mentioning one is not asking ("сколько человек в парке", "менеджер сказал,
# что ..."), so these count only next to a request verb, after "живой", or as the whole message.
_STAFF = (
    r"(оператор\w*|менеджер\w*|сотрудник\w*|специалист\w*|администратор\w*|админ\w*|диспетчер\w*"
    r"|куратор\w*|консультант\w*|человек[ауо]?м?)"
)
_ASK = (
    r"(позов\w*|позва\w*|зов\w*|соедин\w*|переключ\w*|перевед\w*|перенаправ\w*|свяж\w*|связ\w*|дай\w*"
    r"|нужен|нужна|хоч\w*|хотел\w*|хотим|можно|пригласи\w*|подключи\w*|поговор\w*|говорить|пообщ\w*"
    r"|общать\w*|обща\w*|напи[сш]\w*|спрос\w*|обрат\w*|верни\w*|жду|давай\w*|требу\w*)"
)
# After the person ("оператора позовите", "менеджер нужен"): a narrower set, since "менеджер сказал,
# что можно ..." only mentions one.
_ASK_AFTER = r"(позов\w*|позва\w*|соедин\w*|переключ\w*|нужен|нужна|пожалуйста|давай\w*|требу\w*|подключи\w*)"
_RU_PATTERNS = (
    # "живой менеджер", "с живым человеком", "живого оператора"
    re.compile(r"\bжив(ой|ым|ого|ому|ая|ую|ые|ыми|ых)\s+(\w+\s+)?" + _STAFF),
    # "позовите оператора", "хочу поговорить с человеком", "соедините с сотрудником"
    re.compile(r"\b" + _ASK + r"\b(\s+\w+){0,3}?\s+" + _STAFF + r"\b"),
    re.compile(r"\b" + _STAFF + r"\b(\s+\w+){0,2}?\s+" + _ASK_AFTER + r"\b"),
    # "поговорить с живым", "позовите кого-нибудь живого"
    re.compile(r"\bс\s+живым(?=\s*([^\w\s]|$))|\bкого\s+(нибудь|то)\s+жив\w*"),
    # "с человеком", "человека!", "оператора"
    re.compile(r"\bс\s+(реальным\s+|настоящим\s+|нормальным\s+)?человеком\b"),
    re.compile(r"^\W*(оператор\w*|менеджер\w*|человек[ау]?|сотрудник\w*|живой)\W*$"),
    # "не бот", "надоел бот", "с ботом не хочу"
    re.compile(r"\b(не\s+(с\s+)?(бот\w*|робот\w*)|надоел\w*\s+(бот|робот)\w*|хватит\s+(бот|робот)\w*)"),
    re.compile(r"\b(бот\w*|робот\w*)\s+(не\s+)?(надо|не\s+нужен|не\s+хочу|достал)\w*"),
)

_EN_PERSON = r"(human|person|people|operator|agent|manager|representative|rep|staff|someone|somebody|real\s+person)"
_EN_PATTERNS = (
    re.compile(
        r"\b(talk|speak|chat|connect|transfer|put|get|want|need|call|contact|reach|give)\b"
        r"(\s+\w+){0,4}?\s+(a\s+|an\s+|the\s+|to\s+|with\s+|me\s+)*" + _EN_PERSON + r"\b"
    ),
    re.compile(r"\b(live|real)\s+(agent|person|human|manager|operator|support)\b"),
    re.compile(r"^\W*(human|operator|agent|manager|representative)\W*$"),
    re.compile(r"\b(not\s+a\s+bot|no\s+bots?|stop\s+bot)\b"),
)


def wants_human(text: str) -> bool:
    """True when the visitor asks for a person rather than the bot."""
    normalized = " ".join(normalize(text).replace("-", " ").split())
    return any(p.search(normalized) for p in _RU_PATTERNS + _EN_PATTERNS)


@dataclass(frozen=True)
class HandoffAdvice:
    offer: bool
    reason: Literal["asked", "not_answered", None] = None


class HandoffAdvisor:
    """Decides whether to offer the live manager after an AI reply.

    Offering after the first miss is too eager (a rephrase often works); two misses in a row
    mean the visitor is stuck and a person is the better use of their time.
    """

    def __init__(self, misses_in_a_row: int = 2) -> None:
        if misses_in_a_row < 1:
            raise ValueError("misses_in_a_row must be at least 1")
        self.misses_in_a_row = misses_in_a_row

    def advise(self, recent_confident: Sequence[bool], last_user_text: str = "") -> HandoffAdvice:
        """`recent_confident`: AIAnswer.confident of the recent answers, oldest first."""
        if last_user_text and wants_human(last_user_text):
            return HandoffAdvice(offer=True, reason="asked")
        tail = list(recent_confident)[-self.misses_in_a_row :]
        if len(tail) == self.misses_in_a_row and not any(tail):
            return HandoffAdvice(offer=True, reason="not_answered")
        return HandoffAdvice(offer=False)

    def should_offer(self, recent_confident: Sequence[bool], last_user_text: str = "") -> bool:
        return self.advise(recent_confident, last_user_text).offer
