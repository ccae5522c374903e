"""The message catalogs (locales/<lang>/LC_MESSAGES/messages.po): one place for every visitor and manager text.

msgids are the Russian texts (Russian is the desk's first language; the code stays readable), `ru` and `en`
translate every one of them. The .po files are compiled in memory at start with Babel (babel.messages.mofile),
so a fresh clone needs no build step and no compiled file can lag behind its source.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.paths import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "ru"


def N_(message: str) -> str:
    """Marks a text for extraction where it is defined; it is translated where it is used."""
    return message


def compile_catalog(po_path: Path) -> gettext.GNUTranslations:
    with po_path.open("rb") as source:
        catalog = read_po(source, locale=po_path.parent.parent.name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@functools.cache
def catalogs(directory: Path = LOCALES_DIR) -> dict[str, gettext.GNUTranslations]:
    """Every language with a catalog, compiled once per process."""
    return {po.parent.parent.name: compile_catalog(po)
            for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))}


def language(code: str | None) -> str:
    """The catalog for a visitor's or manager's language code ("en-GB", "en_US", "uk"), else Russian."""
    if not code:
        return DEFAULT_LOCALE
    primary = code.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in catalogs() else DEFAULT_LOCALE


def translate(locale: str | None, message: str, **values: object) -> str:
    text = catalogs()[language(locale)].gettext(message)
    return text.format(**values) if values else text


def translate_plural(locale: str | None, singular: str, plural: str, n: int, **values: object) -> str:
    text = catalogs()[language(locale)].ngettext(singular, plural, n)
    return text.format(n=n, **values)
