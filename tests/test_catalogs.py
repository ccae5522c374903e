"""The message catalogs: every text the code marks is in the template, and `ru` and `en` translate all of it
with the same placeholders, so no visitor or manager ever meets a missing or broken text."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from core.i18n import LOCALES_DIR, catalogs, language, translate

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("ai", "bot", "core", "support", "widget", "app", "webhook")
LANGUAGES = ("ru", "en")
# What a translation must keep as it is: format fields, %-fields and Telegram HTML tags (<b>, </i>, <code>…).
PLACEHOLDER = re.compile(r"\{[a-z_]*\}|%\([a-z_]+\)[sd]|%[sd]|</?[a-z]+(?: [^<>]*)?>")
FIELD = re.compile(r"\{([a-z_]*)\}")


def _ids(path: Path) -> dict[str, object]:
    with path.open("rb") as source:
        return {message.id if isinstance(message.id, str) else message.id[0]: message
                for message in read_po(source) if message.id}


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_the_template_holds_every_marked_text() -> None:
    """`pybabel extract` was run after the last text changed (README, "Languages")."""
    keywords = {**DEFAULT_KEYWORDS, "translate": (2,)}  # ngettext (plurals) is among Babel's defaults
    marked: set[str] = set()
    for folder in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / folder, method_map=[("**.py", "python")], keywords=keywords):
            if message:
                marked.add(message if isinstance(message, str) else message[0])
    template = set(_ids(LOCALES_DIR / "messages.pot"))
    assert marked - template == set(), "run pybabel extract (README, Languages)"
    assert template - marked == set(), "texts in the template nobody uses: run pybabel extract"


def test_every_text_is_translated_in_both_languages_with_the_same_placeholders() -> None:
    template = _ids(LOCALES_DIR / "messages.pot")
    for lang in LANGUAGES:
        catalog = _ids(LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po")
        assert set(catalog) == set(template), f"{lang}: run pybabel update (README, Languages)"
        for msgid, message in catalog.items():
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{lang}: no translation for {msgid!r}"
            assert not message.fuzzy, f"{lang}: fuzzy translation for {msgid!r}"
            for string in strings:
                assert _placeholders(string) == _placeholders(msgid), f"{lang}: placeholders differ in {msgid!r}"
                # str.format must accept it: no stray brace a translator could have typed.
                string.format(**{name: "x" for name in FIELD.findall(string)})


def test_russian_is_the_source_text_word_for_word() -> None:
    """msgids are the Russian texts: the ru catalog repeats each one (plurals add the other Russian forms)."""
    catalog = _ids(LOCALES_DIR / "ru" / "LC_MESSAGES" / "messages.po")
    for msgid, message in catalog.items():
        if isinstance(message.id, str):
            assert message.string == msgid, f"ru: {msgid!r} is translated as {message.string!r}"
        else:
            assert len(message.string) == 3 and message.string[0] == msgid, f"ru: plural forms of {msgid!r}"


def test_a_plural_text_takes_the_form_its_number_needs() -> None:
    text = "🔴 Вы пропустили {missed} предложение чата подряд, поэтому смена приостановлена: новые чаты " \
           "не приходят. Вернуться — /online."
    plural = text.replace("предложение", "предложения")
    forms = {n: catalogs()["ru"].ngettext(text, plural, n).format(missed=n) for n in (1, 3, 5, 21)}
    assert "1 предложение" in forms[1] and "3 предложения" in forms[3] and "5 предложений" in forms[5]
    assert "21 предложение" in forms[21]
    assert "1 chat offer in" in catalogs()["en"].ngettext(text, plural, 1).format(missed=1)
    assert "3 chat offers in" in catalogs()["en"].ngettext(text, plural, 3).format(missed=3)


def test_a_language_code_finds_its_catalog_or_falls_back_to_russian() -> None:
    assert set(LANGUAGES) <= set(catalogs())
    assert [language(code) for code in ("en", "en-GB", "en_US", "ru-RU", "de", None, "")] == [
        "en", "en", "en", "ru", "ru", "ru", "ru"]
    assert translate("en-GB", "Такого чата нет.") == "No such chat."
    assert translate("uk", "Такого чата нет.") == "Такого чата нет."


def test_the_widget_speaks_both_languages_completely() -> None:
    """The widget keeps its own small table (no catalog round trip before it can draw); both halves match."""
    from widget.pages import source_text

    source = source_text("widget.js")  # its parts in widget/script/, as served (joined)
    tables = {lang: re.search(rf"\n    {lang}: \{{(.*?)\n    \}}", source, re.S) for lang in LANGUAGES}
    keys = {}
    for lang, found in tables.items():
        assert found, f"no {lang} table in widget.js"
        pairs = re.findall(r"(\w+): '((?:[^'\\]|\\.)*)'", found.group(1))
        assert all(text.strip() for _key, text in pairs), lang
        keys[lang] = [key for key, _text in pairs]
    assert len(keys["ru"]) > 30 and sorted(keys["ru"]) == sorted(keys["en"])
