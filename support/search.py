"""Finding past chats by phone, name or words (the bot's /find, the chats API's q=).

One rule for what a query means: phone-like input (7 or more digits and nothing but phone punctuation) is
compared by its national digits, so "+7 999 123-45-67", "89991234567" and "9991234567" find the same chat;
anything else is matched against the client's name and, with the database's full-text search, the messages
(PostgreSQL: to_tsvector('russian'), stemmed; SQLite: FTS5 by word prefix). Migration 006 made the indexes.
"""

from __future__ import annotations

import re

import peewee

from models import ChatMessage, SupportChat, VisitorSession

_PHONE = re.compile(r"^\+?[\d\s\-().]+$")
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY = 200


def phone_key(phone: str | None) -> str | None:
    """The national part of a phone number: 7/8 + 10 digits (Russia, Kazakhstan) become the 10 digits."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    return digits or None


def is_phone_query(text: str) -> bool:
    return bool(_PHONE.match(text)) and len(re.sub(r"\D", "", text)) >= 5


def _postgres(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def _text_match(db: peewee.Database, text: str) -> peewee.Expression | None:
    """Messages whose text matches the words of `text`, as the database's full-text search sees it."""
    words = _WORD.findall(text.lower())[:10]
    if not words:
        return None
    if _postgres(db):
        russian = peewee.SQL("'russian'")  # a literal, so the planner matches the expression index
        return peewee.Expression(peewee.fn.to_tsvector(russian, ChatMessage.text), "@@",
                                 peewee.fn.plainto_tsquery(russian, " ".join(words)))
    # Every word as a quoted prefix: no FTS5 syntax from the user reaches MATCH.
    match = " ".join(f'"{word}"*' for word in words)
    return ChatMessage.id.in_(peewee.SQL("(SELECT rowid FROM chat_messages_fts WHERE chat_messages_fts MATCH ?)",
                                         [match]))


def _contains(db: peewee.Database, field: peewee.Field, text: str) -> peewee.Expression:
    """`field` contains `text`, any case. LIKE wildcards typed by the user are dropped, not interpreted."""
    text = text.replace("%", "").replace("_", "").replace("\\", "")
    if _postgres(db):
        return field.contains(text)  # ILIKE, Unicode-aware
    # SQLite folds only ASCII case: try the spellings people type a name in.
    variants = {text, text.lower(), text.upper(), text.capitalize(), text.title()}
    condition = field.contains(next(iter(variants)))
    for variant in variants:
        condition |= field.contains(variant)
    return condition


def matching_chats(db: peewee.Database, text: str) -> peewee.Expression:
    """A WHERE condition on SupportChat for the query `text` (already stripped, non-empty)."""
    text = text[:MAX_QUERY]
    if is_phone_query(text):
        key = phone_key(text) or ""
        if len(key) == 10:
            return SupportChat.phone_key == key
        return SupportChat.phone_key.contains(key)
    condition = _contains(db, SupportChat.client_name, text)
    condition |= SupportChat.session.in_(
        VisitorSession.select(VisitorSession.id).where(_contains(db, VisitorSession.name, text)))
    words = _text_match(db, text)
    if words is not None:
        condition |= SupportChat.id.in_(
            ChatMessage.select(ChatMessage.support_chat).where(ChatMessage.support_chat.is_null(False) & words))
    return condition
