"""Telegram's HTML parse mode: parsing into (text, entities) and rendering back safely.

The parser follows TDLib's behaviour closely enough that a message the fake
accepts is one the real Bot API accepts, and one it rejects fails with the same
"can't parse entities" wording. The renderer is the reverse direction, used by
the sandbox page: it turns plain text + entities into HTML that can only ever
contain the Telegram subset, whatever the bot sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The reverse direction lives in tg_render; re-exported for callers that import it from here.
from .tg_render import render_html

__all__ = [
    "HTMLParseError",
    "ParseResult",
    "detect_entities",
    "merge_entities",
    "parse_html",
    "render_html",
    "strip_text",
    "utf16_len",
]

ENTITY_FOR_TAG: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class HTMLParseError(ValueError):
    """Raised with Telegram's own wording (what follows "can't parse entities: ")."""

    @property
    def description(self) -> str:
        """The full ``description`` of Telegram's 400 answer."""
        return f"Bad Request: can't parse entities: {self}"


@dataclass
class ParseResult:
    text: str
    entities: list[dict[str, Any]]
    # Bare "&" is accepted by Telegram but almost always means the bot forgot to escape
    # user input, which breaks as soon as the input contains "<"; surfaced as a warning.
    warnings: list[str]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass
class _Open:
    tag: str
    attrs: dict[str, str]
    offset: int  # UTF-16 offset in the output text


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    """TDLib's decode_html_entity: the character and the index after it, or None to keep '&' as is.

    Numeric references need no ';' and only the four named entities Telegram documents are known;
    anything else ("&nbsp;", a bare "&") stays verbatim in the text.
    """
    n = len(text)
    end = i + 1
    code = 0
    if end < n and text[end] == "#":
        end += 1
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                code = code * 16 + int(text[end], 16)
                end += 1
        else:
            while end < n and text[end] in "0123456789":
                code = code * 10 + int(text[end])
                end += 1
        if code == 0 or code >= 0x10FFFF or end - i >= 10:
            return None
        char = chr(code)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(text[i + 1 : end])
        if named is None:
            return None
        char = named
    if end < n and text[end] == ";":
        end += 1
    return char, end


def _is_space(char: str) -> bool:
    return char in " \t\r\n\f\v"


def _parse_attrs(text: str, i: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Attributes up to '>' exactly as TDLib reads them; returns (attrs, index after '>')."""
    attrs: dict[str, str] = {}
    n = len(text)
    at = _byte_offset(text, begin)
    while True:
        while i < n and _is_space(text[i]):
            i += 1
        if i >= n:
            raise HTMLParseError(f"Unclosed start tag at byte offset {at}")
        if text[i] == ">":
            return attrs, i + 1
        name_start = i
        while i < n and not _is_space(text[i]) and text[i] not in "=>":
            i += 1
        name = text[name_start:i].lower()
        if not name:
            raise HTMLParseError(f'Empty attribute name in the tag "{tag}" at byte offset {at}')
        while i < n and _is_space(text[i]):
            i += 1
        if i >= n or text[i] != "=":
            if tag == "blockquote" and name == "expandable":
                attrs[name] = ""
                continue
            raise HTMLParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {at}'
            )
        i += 1
        while i < n and _is_space(text[i]):
            i += 1
        if i >= n:
            raise HTMLParseError(f'Unclosed start tag "{tag}" at byte offset {at}')
        if text[i] not in "\"'":
            # A name token: letters, digits, '.' and '-', case-insensitive.
            token_start = i
            while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                i += 1
            value = text[token_start:i].lower()
            if i >= n or not (_is_space(text[i]) or text[i] == ">"):
                raise HTMLParseError(f"Unexpected end of name token at byte offset {_byte_offset(text, token_start)}")
        else:
            quote = text[i]
            i += 1
            chars: list[str] = []
            while i < n and text[i] != quote:
                if text[i] == "&":
                    decoded = _decode_entity(text, i)
                    if decoded:
                        chars.append(decoded[0])
                        i = decoded[1]
                        continue
                chars.append(text[i])
                i += 1
            if i < n:
                i += 1
            value = "".join(chars)
            if i >= n:
                raise HTMLParseError(f"Unclosed start tag at byte offset {at}")
        attrs[name] = value


def _entity_for(open_tag: _Open, length: int, parent: _Open | None) -> dict[str, Any] | None:
    tag, attrs = open_tag.tag, open_tag.attrs
    kind = ENTITY_FOR_TAG[tag]
    entity: dict[str, Any] = {"offset": open_tag.offset, "length": length, "type": kind}
    if tag == "a":
        url = attrs.get("href", "")
        if not url:
            return None
        user_match = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if user_match:
            entity["type"] = "text_mention"
            entity["user"] = {"id": int(user_match.group(1)), "is_bot": False, "first_name": ""}
        else:
            entity["url"] = url
    elif tag == "pre":
        language = attrs.get("_language")
        if language:
            entity["language"] = language
    elif tag == "code" and parent is not None and parent.tag == "pre":
        # <pre><code class="language-x"> is one pre entity carrying the language.
        lang_class = attrs.get("class", "")
        if lang_class.startswith("language-"):
            parent.attrs["_language"] = lang_class.removeprefix("language-")
        return None
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    elif tag == "tg-time":
        entity["unix_time"] = int(attrs["unix"])
        if attrs.get("format"):
            entity["date_time_format"] = attrs["format"]
    return entity


def _check_start_tag(tag: str, attrs: dict[str, str], text: str, begin: int) -> None:
    at = _byte_offset(text, begin)
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise HTMLParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
    if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
        raise HTMLParseError(f"Custom emoji identifier must be non-empty at byte offset {at}")
    if tag == "tg-time" and not attrs.get("unix", "").lstrip("-").isdigit():
        raise HTMLParseError(f'Tag "tg-time" must have attribute "unix" at byte offset {at}')


def parse_html(text: str) -> ParseResult:
    """Telegram's HTML parse mode, step for step as TDLib's parse_html (MessageEntity.cpp).

    Raises :class:`HTMLParseError` carrying the text Telegram puts after "can't parse entities: ".
    """
    out: list[str] = []
    out_len16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    warnings: list[str] = []
    n = len(text)
    i = 0
    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_entity(text, i)
            if decoded:
                out.append(decoded[0])
                out_len16 += utf16_len(decoded[0]) if not _is_surrogate(decoded[0]) else 1
                i = decoded[1]
                continue
            warnings.append(f"unescaped '&' in HTML text at byte offset {_byte_offset(text, i)}")
        if char != "<":
            out.append(char)
            out_len16 += 2 if ord(char) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        at = _byte_offset(text, begin)
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise HTMLParseError(f"Unexpected end tag at byte offset {at}")
            i += 1
            name_start = i
            while i < n and not _is_space(text[i]) and text[i] != ">":
                i += 1
            tag = text[name_start:i].lower()
            while i < n and _is_space(text[i]):
                i += 1
            if i >= n or text[i] != ">":
                raise HTMLParseError(f"Unclosed end tag at byte offset {at}")
            top = stack[-1]
            if tag and tag != top.tag:
                raise HTMLParseError(
                    f'Unmatched end tag at byte offset {at}, expected "</{top.tag}>", found "</{tag}>"'
                )
            stack.pop()
            length = out_len16 - top.offset
            entity = _entity_for(top, length, stack[-1] if stack else None)
            if entity is not None and length > 0:
                entities.append(entity)
            i += 1
            continue
        name_start = i
        while i < n and not _is_space(text[i]) and text[i] != ">":
            i += 1
        if i >= n:
            raise HTMLParseError(f"Unclosed start tag at byte offset {at}")
        tag = text[name_start:i].lower()
        if tag not in ENTITY_FOR_TAG:
            raise HTMLParseError(f'Unsupported start tag "{tag}" at byte offset {at}')
        attrs, i = _parse_attrs(text, i, tag, begin)
        _check_start_tag(tag, attrs, text, begin)
        stack.append(_Open(tag, attrs, out_len16))
    if stack:
        raise HTMLParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    result = "".join(out)
    if any(_is_surrogate(c) for c in result):
        raise HTMLParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParseResult(result, entities, warnings)


def _is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace as Telegram does, keeping entity offsets valid."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    fixed: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            fixed.append({**entity, "offset": start, "length": end - start})
    return stripped, fixed


_AUTO_RE = re.compile(
    # TDLib skips commands glued to "<", ">" or "/" (paths, leftover markup).
    r"(?P<bot_command>(?<![\w/<>])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>]))"
    r"|(?P<url>\bhttps?://[^\s<>\"]+)"
    r"|(?P<email>\b[\w.+-]+@[\w-]+\.[\w.-]+\b)"
    r"|(?P<mention>(?<!\w)@[A-Za-z0-9_]{4,32})"
    r"|(?P<hashtag>(?<![\w#])#\w*[^\W\d]\w*)"  # "#2" is a number, not a tag
)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram adds by itself (commands, links, mentions...)."""
    found: list[dict[str, Any]] = []
    for match in _AUTO_RE.finditer(text):
        kind = match.lastgroup or ""
        found.append(
            {
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
                "type": kind,
            }
        )
    return found


def merge_entities(explicit: list[dict[str, Any]], automatic: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return a["offset"] < b["offset"] + b["length"] and b["offset"] < a["offset"] + a["length"]

    # Links written by the bot win over auto-detection; Telegram does not double-mark text.
    links = [e for e in explicit if e["type"] in {"text_link", "code", "pre", "text_mention"}]
    merged = list(explicit) + [a for a in automatic if not any(overlaps(a, e) for e in links)]
    merged.sort(key=lambda e: (e["offset"], -e["length"]))
    return merged
