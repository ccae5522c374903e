"""Strict Telegram HTML: every text the bot sends with parse_mode HTML is parsed as Telegram would.

The error cases are TDLib's own (td/test/message_entities.cpp): the fake must answer the same 400 with
the same "can't parse entities" wording, whatever path the text takes (message, edit, caption, draft).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile

from sandbox import FakeBotAPI, FakeUser, TelegramError, check_html
from tests.fake_telegram import running_fake

USER = FakeUser(id=7001, first_name="Вера")
PREFIX = "Bad Request: can't parse entities: "

SURROGATES = (
    "Text contains invalid Unicode characters after decoding HTML entities, "
    "check for unmatched surrogate code units"
)
TDLIB_ERRORS = [
    ("&#57311;", SURROGATES),
    ("&#xDFDF;", SURROGATES),
    ("&#xDFDF", SURROGATES),
    ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<abac>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba>", 'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;>", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
    ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
    ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
    ("🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'),
    # The mistakes a bot makes with user input: a bare "<", a tag Telegram does not know, one left open.
    ("цена < 100", 'Unsupported start tag "" at byte offset 9'),
    ("строка<br/>вторая", 'Unsupported start tag "br/" at byte offset 12'),
    ("<b>жирный", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
]

TDLIB_ACCEPTED = [
    ("&lt;&gt;&amp;&quot;&laquo;&raquo;&#12345678;", '<>&"&laquo;&raquo;&#12345678;', []),
    ("🏟 🏟<i>🏟 &lt🏟</i>", "🏟 🏟🏟 <🏟", [("italic", 5, 6)]),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.   >a</i>", "🏟 🏟<a", [("italic", 6, 1)]),
    ("🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;'>a</>", "🏟 🏟<a", [("italic", 6, 1)]),
    ("🏟 🏟&lt;<i>a</    >", "🏟 🏟<a", [("italic", 6, 1)]),
    ("🏟 🏟&lt;<b></b>", "🏟 🏟<", []),
    ("<blockquote expandable>цитата</blockquote>", "цитата", [("expandable_blockquote", 0, 6)]),
]


@pytest.mark.parametrize(("text", "error"), TDLIB_ERRORS)
def test_check_html_answers_telegrams_error(text: str, error: str) -> None:
    with pytest.raises(TelegramError) as info:
        check_html(text)
    assert info.value.code == 400
    assert info.value.description == PREFIX + error


@pytest.mark.parametrize(("text", "plain", "entities"), TDLIB_ACCEPTED)
def test_check_html_accepts_what_telegram_accepts(
    text: str, plain: str, entities: list[tuple[str, int, int]]
) -> None:
    parsed = check_html(text)
    assert parsed.text == plain
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == entities


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async for api in running_fake(USER):
        yield api


async def test_every_text_path_is_checked_over_http(fake: FakeBotAPI, bot: Bot) -> None:
    bad = "цена < 100"
    expected = PREFIX + 'Unsupported start tag "" at byte offset 9'
    with pytest.raises(TelegramBadRequest) as sent:
        await bot.send_message(USER.id, bad)
    assert sent.value.message == expected

    good = await bot.send_message(USER.id, "цена &lt; 100")
    assert fake.message(USER.id, good.message_id).text == "цена < 100"
    with pytest.raises(TelegramBadRequest) as edited:
        await bot.edit_message_text(bad, chat_id=USER.id, message_id=good.message_id)
    assert edited.value.message == expected
    assert fake.message(USER.id, good.message_id).edited is False

    document = BufferedInputFile(b"data", filename="a.txt")
    with pytest.raises(TelegramBadRequest) as captioned:
        await bot.send_document(USER.id, document, caption="<b>открыт")
    assert captioned.value.message == PREFIX + 'Can\'t find end tag corresponding to start tag "b"'

    with pytest.raises(TelegramBadRequest) as drafted:
        await bot.send_message_draft(USER.id, draft_id=1, text=bad)
    assert drafted.value.message == expected
    assert [m.message_id for m in fake.messages(USER.id)] == [good.message_id]


async def test_bare_ampersand_is_accepted_but_recorded(fake: FakeBotAPI, bot: Bot) -> None:
    # Telegram keeps a bare "&" as text; it still means user input went out unescaped.
    sent = await bot.send_message(USER.id, "Tom & Jerry")
    assert fake.message(USER.id, sent.message_id).text == "Tom & Jerry"
    assert len(fake.violations) == 1
    assert "unescaped '&'" in fake.violations[0]
