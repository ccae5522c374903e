"""Markdown → safe HTML for AI and manager messages, rendered once on the server."""

from __future__ import annotations

import functools

import nh3
from markdown_it import MarkdownIt

# Raw HTML in the source is off: the text comes from an AI or a person, never from a trusted author.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("strikethrough")
_ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "s", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "hr",
}


# The AI answers from a knowledge base: the same few hundred texts come back again and again.
@functools.lru_cache(maxsize=1024)
def render_markdown(text: str) -> str:
    html = _md.render(text)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    ).strip()


def markdown_to_plain(text: str) -> str:
    """Markdown without its markup, for places that show a short quote (a manager's notification)."""
    import html

    return html.unescape(nh3.clean(_md.render(text), tags=set())).strip()
