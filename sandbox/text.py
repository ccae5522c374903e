"""How Telegram turns a text plus parse_mode into (plain text, entities), with its exact errors.

Every text the fake accepts goes through :func:`format_text`: messages, edits, captions and
drafts. Tests can run any string through the same check with :func:`check_html`, e.g. to pin down
that a template the product renders is something Telegram would accept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import TelegramError, bad_request
from .tg_html import HTMLParseError, ParseResult, detect_entities, merge_entities, parse_html, strip_text

MAX_TEXT = 4096
MAX_CAPTION = 1024


@dataclass
class FormattedText:
    text: str
    entities: list[dict[str, Any]]
    # Accepted by Telegram but almost surely a bug (e.g. unescaped "&"); the fake records them as violations.
    warnings: list[str] = field(default_factory=list)


def check_html(text: str) -> ParseResult:
    """Parse ``text`` as Telegram's HTML parse mode; raises the :class:`TelegramError` Telegram would answer."""
    try:
        return parse_html(text)
    except HTMLParseError as err:
        raise TelegramError(400, err.description) from None


def format_text(
    text: str,
    parse_mode: str | None,
    entities: Any,
    *,
    limit: int = MAX_TEXT,
    caption: bool = False,
    allow_empty: bool = False,
) -> FormattedText:
    """Apply parse_mode the way Telegram does and enforce the length limit after parsing.

    ``caption`` picks the caption wording and lets the text be empty (a media message needs none);
    ``allow_empty`` is for sendMessageDraft, where an empty text shows "Thinking...".
    """
    explicit: list[dict[str, Any]] = []
    warnings: list[str] = []
    plain = text
    mode = (parse_mode or "").lower()
    if mode == "html":
        parsed = check_html(text)
        plain, explicit = parsed.text, parsed.entities
        warnings = [f"HTML text: {w} (escape user input with html.escape)" for w in parsed.warnings]
    elif mode in ("markdown", "markdownv2"):
        # Not modelled: the project formats with HTML; accept the text verbatim.
        plain = text
    elif mode:
        raise bad_request("unsupported parse_mode")
    elif isinstance(entities, list):
        explicit = [e for e in entities if isinstance(e, dict)]
    plain, explicit = strip_text(plain, explicit)
    if not plain and not (caption or allow_empty):
        raise bad_request("message text is empty")
    if len(plain) > limit:
        raise bad_request("message caption is too long" if caption else "message is too long")
    return FormattedText(plain, merge_entities(explicit, detect_entities(plain)), warnings)
