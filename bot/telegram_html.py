"""Markdown (what the AI and managers write) → Telegram's HTML parse mode, and cutting such HTML safely.

Telegram understands a handful of tags (b, i, s, u, code, pre, a, blockquote) and no block structure, so
this walks markdown-it-py's token stream (the parser the widget's renderer in support/markdown.py uses)
and writes only those tags: headings and bold become <b>, lists become lines starting with "•" or "1.",
paragraphs become blank lines. Every piece of text is escaped; raw HTML in the source is never passed on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from markdown_it import MarkdownIt
from markdown_it.token import Token

# The same dialect the widget renders: CommonMark with ~~strikethrough~~, raw HTML off, newlines kept.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("strikethrough")

# Telegram rejects a text_link it cannot open; everything else is shown as the link's text only.
_LINK_SCHEMES = ("http://", "https://", "mailto:")
_LANGUAGE = re.compile(r"[\w+#.-]{1,32}")
_INLINE_TAGS = {"strong": "b", "em": "i", "s": "s"}
_INDENT = "    "


def markdown_to_telegram_html(text: str) -> str:
    """The Markdown `text` as Telegram HTML; never unbalanced, never a tag Telegram does not know."""
    return _Renderer().render(_md.parse(text)).strip()


class _Renderer:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.lists: list[list[int | None]] = []  # per open list: [next number] or [None] for bullets
        self.fresh = True  # at the start of the text, of a list item or of a quote: no blank line needed

    def render(self, tokens: Sequence[Token]) -> str:
        for token in tokens:
            self._block(token)
        text = "".join(self.out)
        return re.sub(r"\n{3,}", "\n\n", text)

    def _gap(self) -> None:
        """A blank line before the next block, unless it starts the text or a list item's line."""
        if self.fresh:
            return
        text = "".join(self.out[-2:])
        if not text.endswith("\n\n"):
            self.out.append("\n" if text.endswith("\n") else "\n\n")

    def _line_break(self) -> None:
        if self.out and not "".join(self.out[-2:]).endswith("\n"):
            self.out.append("\n")

    def _block(self, token: Token) -> None:
        kind = token.type
        if kind in ("fence", "code_block", "hr", "html_block"):
            self._gap()
            self.fresh = False
        if kind == "paragraph_open":
            if not token.hidden:  # a tight list's paragraphs are hidden: the item is one line
                self._gap()
        elif kind == "heading_open":
            self._gap()
            self.out.append("<b>")
        elif kind == "heading_close":
            self.out.append("</b>")
        elif kind in ("bullet_list_open", "ordered_list_open"):
            # A list is the lines right under what introduces it ("Нужны документы:"), no blank line.
            self._line_break()
            start = token.attrGet("start") if kind == "ordered_list_open" else None
            self.lists.append([int(start) if start is not None else (1 if kind == "ordered_list_open" else None)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            self._line_break()
            current = self.lists[-1]
            marker = "•" if current[0] is None else f"{current[0]}."
            if current[0] is not None:
                current[0] += 1
            self.out.append(_INDENT * (len(self.lists) - 1) + marker + " ")
            self.fresh = True
        elif kind == "blockquote_open":
            self._gap()
            self.out.append("<blockquote>")
            self.fresh = True
        elif kind == "blockquote_close":
            while self.out and self.out[-1].endswith("\n"):
                self.out[-1] = self.out[-1].rstrip("\n")
            self.out.append("</blockquote>")
        elif kind in ("fence", "code_block"):
            code = escape(token.content.rstrip("\n"), quote=False) or " "
            language = token.info.strip().split(" ")[0] if token.info else ""
            if language and _LANGUAGE.fullmatch(language):
                self.out.append(f'<pre><code class="language-{escape(language)}">{code}</code></pre>')
            else:
                self.out.append(f"<pre>{code}</pre>")
        elif kind == "hr":
            self.out.append("———")
        elif kind == "inline":
            self.out.append(_inline(token.children or []))
            self.fresh = False
        elif kind == "html_block":  # unreachable with html off; kept as text if the dialect changes
            self.out.append(escape(token.content, quote=False))


def _inline(children: Sequence[Token]) -> str:
    out: list[str] = []
    links: list[bool] = []  # whether each open link became an <a> (an unsafe one is just its text)
    for token in children:
        kind = token.type
        if kind == "text":
            out.append(escape(token.content, quote=False))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "code_inline":
            out.append(f"<code>{escape(token.content, quote=False)}</code>" if token.content else "")
        elif kind.endswith("_open") and kind[:-5] in _INLINE_TAGS:
            out.append(f"<{_INLINE_TAGS[kind[:-5]]}>")
        elif kind.endswith("_close") and kind[:-6] in _INLINE_TAGS:
            out.append(f"</{_INLINE_TAGS[kind[:-6]]}>")
        elif kind == "link_open":
            href = str(token.attrGet("href") or "")
            safe = href.lower().startswith(_LINK_SCHEMES)
            links.append(safe)
            if safe:
                out.append(f'<a href="{escape(href, quote=True)}">')
        elif kind == "link_close":
            if links.pop():
                out.append("</a>")
        elif kind == "image":
            out.append(escape(token.content or "", quote=False))
        elif kind == "html_inline":
            out.append(escape(token.content, quote=False))
    return _drop_empty_tags("".join(out))


def _drop_empty_tags(html: str) -> str:
    """"<b></b>" carries nothing (and an empty entity is pointless): gone."""
    previous = None
    while previous != html:
        previous = html
        html = re.sub(r"<(b|i|s|code)></\1>", "", html)
    return html


# An HTML piece: a tag (group 1 = "/" for an end tag, group 2 = its name), an entity, or plain text.
_PIECE = re.compile(r"<(/?)([a-zA-Z-]+)[^>]*>|&#?\w+;|[^<&]+|[<&]")


def cut_html(html: str, limit: int, ellipsis: str = "…") -> str:
    """`html` in at most `limit` characters: cut between words, never inside a tag or an entity, with every
    tag still open at the cut closed again (so the result parses wherever the whole would have)."""
    if len(html) <= limit:
        return html
    out: list[str] = []
    open_tags: list[str] = []
    size = 0
    for match in _PIECE.finditer(html):
        piece = match.group(0)
        closing = sum(len(tag) + 3 for tag in open_tags)
        if match.group(2):
            tag = match.group(2).lower()
            if match.group(1):
                open_tags.pop()
                out.append(piece)
                size += len(piece)
                continue
            if size + len(piece) + len(tag) + 3 + closing + len(ellipsis) > limit:
                break
            open_tags.append(tag)
            out.append(piece)
            size += len(piece)
            continue
        room = limit - size - closing - len(ellipsis)
        if len(piece) <= room:
            out.append(piece)
            size += len(piece)
            continue
        if not piece.startswith("&") and room > 0:
            cut = piece[:room]
            space = cut.rfind(" ")
            out.append((cut[:space] if space > room // 2 else cut).rstrip())
        break
    # A tag opened just before the cut would stay empty: drop it instead of closing it around nothing.
    while open_tags and out and out[-1].startswith("<") and not out[-1].startswith("</"):
        out.pop()
        open_tags.pop()
    return "".join(out).rstrip() + ellipsis + "".join(f"</{tag}>" for tag in reversed(open_tags))


def telegram_quote(text: str, limit: int) -> str:
    """A Markdown text as Telegram HTML in at most `limit` characters (a notification's quote)."""
    return cut_html(markdown_to_telegram_html(text), limit)
