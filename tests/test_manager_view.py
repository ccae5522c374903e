"""What managers see: Markdown as Telegram HTML, times in the desk's zone, the new-chat card's gist and
exchanges, and a details page's accept button. The real aiogram bot against the fake Bot API, which parses
every HTML text as Telegram does (an unbalanced or unknown tag is a 400 the test would see)."""

from __future__ import annotations

import datetime as dt

import aiohttp

from bot.telegram_html import cut_html, markdown_to_telegram_html
from models import AcceptButton, ChatMessage, Sender, SupportChat
from sandbox.tg_html import parse_html
from support.localtime import local_iso, local_text, zone_label
from tests.clients import MANAGER, SECOND_MANAGER, Visitor, accepted_chat, go_online, offer_to, press, say
from tests.conftest import Desk, eventually, start_desk

# Everything a Markdown writer (the AI, a manager) may produce, and text that breaks naive HTML.
TRICKY_MARKDOWN = (
    "**Как подключиться к парку**\n\nНужны документы:\n- **паспорт**\n- права *категории B*\n"
    "1. `код <5>`\n2. [сайт](https://ilpo-taxi.ru/a?b=1&c=2) и [плохая](javascript:alert(1))\n\n"
    "> цитата\n\n```\n<script>alert(1)</script>\n```\n\nИтого: 5 < 6 & **незакрытое <b>"
)


def test_markdown_becomes_telegram_html_that_telegram_accepts() -> None:
    html = markdown_to_telegram_html(TRICKY_MARKDOWN)
    parsed = parse_html(html)  # the fake Bot API's parser: raises where Telegram would refuse the message
    assert parsed.warnings == []
    assert "**Как" not in parsed.text and "**паспорт" not in parsed.text
    assert "<script>alert(1)</script>" in parsed.text
    assert "• паспорт\n• права категории B\n1. код <5>\n2. сайт и [плохая](javascript:alert(1))" in parsed.text
    kinds = {(e["type"], parsed.text[e["offset"]:e["offset"] + e["length"]]) for e in parsed.entities}
    assert {("bold", "Как подключиться к парку"), ("bold", "паспорт"), ("italic", "категории B"),
            ("code", "код <5>"), ("blockquote", "цитата")} <= kinds
    link = next(e for e in parsed.entities if e["type"] == "text_link")
    assert link["url"] == "https://ilpo-taxi.ru/a?b=1&c=2"  # only http(s)/mailto links become links
    assert "Итого: 5 < 6 & **незакрытое <b>" in parsed.text


def test_cutting_html_never_splits_a_tag_or_an_entity() -> None:
    html = markdown_to_telegram_html(TRICKY_MARKDOWN * 3)
    for limit in range(2, len(html) + 5):
        cut = cut_html(html, limit)
        assert len(cut) <= limit or limit < 2
        parse_html(cut)  # balanced, known tags, whole entities
        if limit < len(html):
            assert cut.replace("</b>", "").replace("</i>", "").rstrip("</a>").endswith("…") or "…" in cut


def test_the_local_time_helper_labels_moscow_and_offsets() -> None:
    from zoneinfo import ZoneInfo

    moment = dt.datetime(2026, 3, 18, 6, 0)  # naive UTC, as stored
    assert local_text(moment, ZoneInfo("Europe/Moscow")) == "18.03.2026 09:00 МСК"
    assert local_text(moment, ZoneInfo("Asia/Yekaterinburg")) == "18.03.2026 11:00 +05:00"
    assert zone_label(ZoneInfo("America/New_York"), moment) == "-04:00"  # summer time on 18 March
    assert local_iso(moment, ZoneInfo("Europe/Moscow")) == "2026-03-18T09:00:00+03:00"


async def test_details_and_relays_show_markdown_as_telegram_formatting(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    asked = await visitor.send("Какие документы нужны для подключения?")
    await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > asked["id"])
    chat_id = await accepted_chat(desk, visitor)

    # A manager writes Markdown too (the widget shows it formatted); an invited colleague gets it as HTML.
    await go_online(desk, SECOND_MANAGER)
    card = next(m for m in desk.fake.messages(MANAGER.id) if "👥 Пригласить" in m.button_texts)
    await press(desk, MANAGER, card.message_id, "👥 Пригласить")
    choice = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Кого пригласить" in (m.text or ""))
    await press(desk, MANAGER, choice.message_id, "Борис — чатов: 0")
    invitation = await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "приглашает" in (m.text or ""))
    await press(desk, SECOND_MANAGER, invitation.message_id, "✅ Присоединиться")
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "тоже в чате" in (m.text or ""))
    await desk.fake.send_message(MANAGER, TRICKY_MARKDOWN)
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Отправлено клиенту" in (m.text or ""))
    relay = await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: (m.text or "").startswith("🗣"))
    assert "**паспорт" not in relay.text and "• паспорт" in relay.text
    assert "<b>паспорт</b>" in str(relay.raw_text) and '<a href="https://ilpo-taxi.ru/a?b=1&amp;c=2">' in str(
        relay.raw_text)
    assert "<script>alert(1)</script>" in relay.text  # shown, never interpreted

    await press(desk, MANAGER, card.message_id, "📋 Подробности")
    details = await desk.fake.wait_for_message(MANAGER.id, lambda m: "История" in (m.text or ""))
    assert "**паспорт" not in details.text, details.text
    assert "Какие документы нужны для подключения?" in details.text
    raw = str(details.raw_text)
    ai_answer = raw.split("🤖 ИИ</b>", 1)[1].split("ℹ️ Система", 1)[0]
    assert "<b>паспорт</b>" in ai_answer and "\n• " in ai_answer, raw  # the AI's bold and its list as lines
    stored = await ChatMessage.aio_get(ChatMessage.support_chat == chat_id, ChatMessage.sender == Sender.MANAGER)
    assert stored.text == TRICKY_MARKDOWN  # stored as written; only the Telegram view is converted


async def test_a_long_formatted_history_entry_is_cut_without_breaking_html(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accepted_chat(desk, visitor)
    long_text = "\n".join(f"- **пункт {n}** с [ссылкой](https://ilpo-taxi.ru/{n}) & <тегом>" for n in range(200))
    await desk.fake.send_message(MANAGER, long_text)
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "Отправлено клиенту" in (m.text or ""))
    card = next(m for m in desk.fake.messages(MANAGER.id) if "📋 Подробности" in m.button_texts)
    await press(desk, MANAGER, card.message_id, "📋 Подробности")
    details = await desk.fake.wait_for_message(MANAGER.id, lambda m: f"Чат #{chat_id}" in (m.text or ""))
    assert "1/2" in details.button_texts  # the long entry is on a page of its own
    await press(desk, MANAGER, details.message_id, "▶️")
    page = await desk.fake.wait_for_edit(MANAGER.id, details.message_id)
    assert "• пункт 0 с ссылкой & <тегом>" in page.text and page.text.endswith("…")
    assert "пункт 199" not in page.text  # cut, and the cut still parsed as HTML (or the edit would have failed)
    assert len(str(page.raw_text)) <= 4096


async def test_times_are_in_the_desk_zone_with_its_label(clean_database: str) -> None:
    product = await start_desk(clean_database, SUPPORT_TIMEZONE="Asia/Yekaterinburg")
    try:
        async with aiohttp.ClientSession() as http:
            desk = Desk(product=product, base_url=product.base_url, http=http)
            await go_online(desk, MANAGER)
            visitor = await Visitor(http, desk.base_url).start()
            asked = await visitor.send("Какие документы нужны?")
            await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > asked["id"])
            result = await visitor.transfer(name="Пётр")
            offer = await offer_to(desk, MANAGER)
            chat = await SupportChat.aio_get(SupportChat.id == result["support_chat_id"])
            expected = (chat.created_at.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=5))))
            assert f"Создан: {expected:%d.%m.%Y %H:%M} +05:00" in offer.text, offer.text
            assert "UTC" not in offer.text

            await press(desk, MANAGER, offer.message_id, "📋 Подробности")
            details = await desk.fake.wait_for_message(MANAGER.id, lambda m: "История" in (m.text or ""))
            assert f"Создан: {expected:%d.%m.%Y %H:%M} +05:00" in details.text
            assert "История: (время +05:00)" in details.text
            first = await ChatMessage.aio_get(ChatMessage.id == asked["id"])
            local = first.created_at.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=5)))
            assert f"👤 Клиент {local:%H:%M}\nКакие документы нужны?" in details.text
    finally:
        await product.stop()
    assert product.fake.violations == []


async def test_new_chat_card_gist_skips_off_topic_and_shows_exchanges(desk: Desk) -> None:
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    for question in ("Какие документы нужны?", "Сколько вы берёте комиссию?", "Расскажите рецепт борща"):
        asked = await visitor.send(question)
        await visitor.wait_for(lambda e, after=asked["id"]: e["type"] == "ai_message" and e["id"] > after)
    await visitor.transfer(name="Пётр")
    offer = await offer_to(desk, MANAGER)
    gist = next(line for line in offer.text.splitlines() if line.startswith("📝 Суть:"))
    assert "комиссию" in gist and "борщ" not in gist, offer.text
    exchanges = offer.text.split("Последние сообщения (3):", 1)[1]
    # Each exchange: the visitor's question under its heading, then the AI's answer under its own.
    blocks = [block for block in exchanges.split("👤 Клиент:\n")[1:]]
    assert [block.split("\n", 1)[0] for block in blocks] == [
        "Какие документы нужны?", "Сколько вы берёте комиссию?", "Расскажите рецепт борща"]
    for block in blocks:
        question, answer = block.split("\n🤖 ИИ:\n", 1)
        assert answer.strip() and "**" not in answer


async def _both_look_at_a_waiting_chat(desk: Desk) -> tuple[Visitor, int, object, object, object]:
    """MANAGER (on shift, offered the chat) and SECOND_MANAGER (registered, not on shift) both open the waiting
    chat's details: each page offers «✅ Принять чат». Returns the visitor, the chat, the offer and both pages."""
    await go_online(desk, MANAGER)
    assert "рабочее место менеджера" in await say(desk, SECOND_MANAGER, "/start")
    visitor = await Visitor(desk.http, desk.base_url).start()
    result = await visitor.transfer(name="Пётр")
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "📋 Подробности")
    mine = await desk.fake.wait_for_message(MANAGER.id, lambda m: "История" in (m.text or ""))
    assert mine.button_texts == ["✅ Принять чат"]
    await desk.fake.send_message(SECOND_MANAGER, "/chats")
    listing = await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "Ожидают" in (m.text or ""))
    await press(desk, SECOND_MANAGER, listing.message_id, "📋")
    theirs = await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "История" in (m.text or ""))
    assert theirs.button_texts == ["✅ Принять чат"]
    chat_id = int(result["support_chat_id"])

    async def both_remembered() -> bool:
        return await AcceptButton.select().where(AcceptButton.support_chat == chat_id).aio_count() == 2

    await eventually(both_remembered)  # recorded once Telegram has answered with the message's id
    return visitor, int(result["support_chat_id"]), offer, mine, theirs


async def test_a_details_page_loses_its_accept_button_once_the_chat_is_taken(desk: Desk) -> None:
    visitor, chat_id, offer, mine, theirs = await _both_look_at_a_waiting_chat(desk)
    their_text = theirs.text

    # MANAGER takes the chat from the offer; nobody touches either details page.
    won = await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    assert "ваш" in str(won["text"])
    await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")

    # The colleague's page loses its accept button by itself; its text stays as it was.
    cleared = await desk.fake.wait_for_edit(SECOND_MANAGER.id, theirs.message_id)
    assert cleared.button_texts == []
    assert cleared.text == their_text
    # The winner's page now carries the chat's own buttons.
    refreshed = await desk.fake.wait_for_edit(MANAGER.id, mine.message_id)
    assert refreshed.button_texts == ["💬 Ответить", "🔚 Завершить"]
    # Done with: the rows are gone.
    assert await AcceptButton.select().where(AcceptButton.support_chat == chat_id).aio_count() == 0


async def test_a_details_page_loses_its_accept_button_when_a_waiting_chat_is_closed(desk: Desk) -> None:
    _visitor, chat_id, _offer, mine, theirs = await _both_look_at_a_waiting_chat(desk)
    await desk.service.lifecycle.close_from_outside(chat_id, by="CRM")
    for user, page in ((MANAGER, mine), (SECOND_MANAGER, theirs)):
        cleared = await desk.fake.wait_for_edit(user.id, page.message_id)
        assert cleared.button_texts == []
    assert await AcceptButton.select().where(AcceptButton.support_chat == chat_id).aio_count() == 0


async def test_a_page_drawn_after_the_chat_was_taken_is_not_remembered(desk: Desk) -> None:
    """The race the row lock settles: a page drawn as waiting but recorded after the chat was taken is told so
    (its buttons are refreshed at once) instead of being remembered for an edit that will never come."""
    _visitor, chat_id, _offer, _mine, theirs = await _both_look_at_a_waiting_chat(desk)
    await desk.service.lifecycle.assign(chat_id, MANAGER.id, by="Админ")
    assert not await desk.service.lifecycle.show_accept_button(chat_id, SECOND_MANAGER.id, theirs.message_id + 100,
                                                              page=0, pages=1)
    assert await AcceptButton.select().where(AcceptButton.support_chat == chat_id).aio_count() == 0
