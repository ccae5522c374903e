"""Plain text + Telegram entities back to HTML for the sandbox page, with a fixed, escaped tag set."""

from __future__ import annotations

import html
import re
from typing import Any

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
