"""Telegram's HTML parse mode: parsing into (text, entities) and rendering back safely.

The parser follows TDLib's behaviour closely enough that a message the fake
accepts is one the real Bot API accepts, and one it rejects fails with the same
"can't parse entities" wording. The renderer is the reverse direction, used by
the sandbox page: it turns plain text + entities into HTML that can only ever
contain the Telegram subset, whatever the bot sent.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

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
_ENTITY_RE = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});")


class HTMLParseError(ValueError):
    """Raised with Telegram's own wording (after "can't parse entities: ")."""


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
    match = _ENTITY_RE.match(text, i)
    if not match:
        return None
    body = match.group(1)
    if body.startswith(("#x", "#X")):
        code = int(body[2:], 16)
    elif body.startswith("#"):
        code = int(body[1:])
    else:
        char = _NAMED_ENTITIES.get(body)
        if char is None:
            return None
        return char, match.end()
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


def _decode_attr_value(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            decoded = _decode_entity(value, i)
            if decoded:
                out.append(decoded[0])
                i = decoded[1]
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _parse_attrs(text: str, i: int, tag_start: int) -> tuple[dict[str, str], int]:
    """Parse attributes up to and including '>' starting at i; return (attrs, index after '>')."""
    attrs: dict[str, str] = {}
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise HTMLParseError(f"Unclosed start tag at byte offset {_byte_offset(text, tag_start)}")
        if text[i] == ">":
            return attrs, i + 1
        name_start = i
        while i < n and not text[i].isspace() and text[i] not in "=>":
            i += 1
        name = text[name_start:i].lower()
        if not name:
            raise HTMLParseError(f"Empty attribute name in the tag at byte offset {_byte_offset(text, i)}")
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise HTMLParseError(f"Unclosed start tag at byte offset {_byte_offset(text, tag_start)}")
            quote = text[i]
            if quote in "\"'":
                end = text.find(quote, i + 1)
                if end == -1:
                    raise HTMLParseError(f"Unclosed start tag at byte offset {_byte_offset(text, tag_start)}")
                value = text[i + 1 : end]
                i = end + 1
            else:
                value_start = i
                while i < n and not text[i].isspace() and text[i] != ">":
                    i += 1
                value = text[value_start:i]
            attrs[name] = _decode_attr_value(value)
        else:
            attrs[name] = ""


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
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise HTMLParseError('Tag "span" must have class "tg-spoiler"')
    if tag == "tg-emoji":
        emoji_id = attrs.get("emoji-id", "")
        if not emoji_id.isdigit():
            raise HTMLParseError(
                f"Custom emoji identifier must be non-empty at byte offset {_byte_offset(text, begin)}"
            )
    if tag == "tg-time" and not attrs.get("unix", "").lstrip("-").isdigit():
        raise HTMLParseError(
            f'Tag "tg-time" must have attribute "unix" at byte offset {_byte_offset(text, begin)}'
        )


def parse_html(text: str) -> ParseResult:
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
                out_len16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
            warnings.append(f"unescaped '&' in HTML text at byte offset {_byte_offset(text, i)}")
        if char != "<":
            out.append(char)
            out_len16 += 2 if ord(char) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            end = text.find(">", i)
            if end == -1:
                raise HTMLParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            tag = text[i + 1 : end].strip().lower()
            if not stack:
                raise HTMLParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            top = stack[-1]
            if tag != top.tag:
                raise HTMLParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{top.tag}>", found "</{tag}>"'
                )
            stack.pop()
            length = out_len16 - top.offset
            entity = _entity_for(top, length, stack[-1] if stack else None)
            if entity is not None and length > 0:
                entities.append(entity)
            i = end + 1
            continue
        name_start = i
        while i < n and not text[i].isspace() and text[i] not in ">/":
            i += 1
        tag = text[name_start:i].lower()
        if tag not in ENTITY_FOR_TAG:
            raise HTMLParseError(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}')
        attrs, i = _parse_attrs(text, i, begin)
        _check_start_tag(tag, attrs, text, begin)
        stack.append(_Open(tag, attrs, out_len16))
    if stack:
        raise HTMLParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParseResult("".join(out), entities, warnings)


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


_SAFE_URL_RE = re.compile(r"^(https?://|tg://|mailto:)", re.IGNORECASE)

_RENDER_TAGS: dict[str, tuple[str, str]] = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="tg-spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ('<blockquote class="expandable">', "</blockquote>"),
}


def _open_tag(entity: dict[str, Any], segment: str) -> tuple[str, str]:
    kind = entity.get("type", "")
    if kind in _RENDER_TAGS:
        return _RENDER_TAGS[kind]
    if kind in {"text_link", "url"}:
        url = entity.get("url") if kind == "text_link" else segment
        if url and not _SAFE_URL_RE.match(url) and kind == "url":
            url = "http://" + url
        if url and _SAFE_URL_RE.match(url):
            return (
                f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">',
                "</a>",
            )
        return ('<span class="bad-link">', "</span>")
    if kind == "bot_command":
        return (f'<span class="cmd" data-cmd="{html.escape(segment, quote=True)}">', "</span>")
    if kind in {"mention", "text_mention", "hashtag", "email"}:
        return (f'<span class="{kind}">', "</span>")
    return ("", "")


def render_html(text: str, entities: list[dict[str, Any]] | None) -> str:
    """Plain text + entities -> HTML containing only escaped text and a fixed tag set."""
    if not entities:
        return html.escape(text, quote=False)
    # Work in UTF-16 units because that is what entity offsets count.
    units: list[str] = []
    for char in text:
        units.append(char)
        if ord(char) > 0xFFFF:
            units.append("")
    total = len(units)
    opens: dict[int, list[tuple[int, str]]] = {}
    closes: dict[int, list[str]] = {}
    stack_end: list[int] = []
    ordered = sorted(
        (e for e in entities if isinstance(e, dict)),
        key=lambda e: (int(e.get("offset", 0)), -int(e.get("length", 0))),
    )
    accepted: list[tuple[int, int, dict[str, Any]]] = []
    for entity in ordered:
        start = int(entity.get("offset", 0))
        end = start + int(entity.get("length", 0))
        if start < 0 or end > total or end <= start:
            continue
        while stack_end and stack_end[-1] <= start:
            stack_end.pop()
        # Overlapping (non-nested) entities cannot be expressed as HTML; drop the later one.
        if stack_end and end > stack_end[-1]:
            continue
        stack_end.append(end)
        accepted.append((start, end, entity))
    for start, end, entity in accepted:
        segment = "".join(units[start:end])
        open_html, close_html = _open_tag(entity, segment)
        opens.setdefault(start, []).append((end, open_html))
        closes.setdefault(end, []).insert(0, close_html)
    out: list[str] = []
    for index in range(total + 1):
        if index in closes:
            out.extend(closes[index])
        if index in opens:
            out.extend(tag for _, tag in opens[index])
        if index < total:
            out.append(html.escape(units[index], quote=False))
    return "".join(out)
