"""The knowledge base as written: Markdown files, one entry per `## ` heading, with its English version,
chip and "see also" directives in hidden comments."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")
# `### EN: Heading` inside an entry starts its English version, shown to visitors who ask in English.
_EN_HEADING = re.compile(r"^###\s+EN:\s*(.+?)\s*#*\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
# `<!-- chip -->` (or `<!-- chip: Text -->`) makes an entry one of the questions the widget offers when it opens;
# `<!-- see also: Heading | Heading -->` names the entries offered as chips after its answer. Neither is search text.
_DIRECTIVE = re.compile(r"<!--\s*(chip|see also)\s*(?::\s*(.*?))?\s*-->", re.IGNORECASE | re.DOTALL)


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

