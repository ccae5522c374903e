"""Playwright helpers for the /sandbox page as a trainee uses it: personas, typing to the bot, pressing its
inline buttons; plus the visitor's side of asking for a manager in the widget."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from tests.browser import ACCEPT, shot
from tests.conftest import WAIT, LiveServer, Opener

DETAILS = "📋 Подробности"
REPLY = "💬 Ответить"
TEMPLATES = "📝 Шаблоны"
CALL = "📞 Позвонить"
TRANSFER = "↪️ Передать"
INVITE = "👥 Пригласить"


def persona_id(server: LiveServer, role: str) -> int:
    return next(p.telegram_id for p in server.product.personas() if p.role == role)


def persona_name(server: LiveServer, role: str) -> str:
    """The persona's Telegram name, which the product shows to visitors as the manager's name."""
    return next(p.first_name for p in server.product.personas() if p.role == role)


def open_sandbox(open_page: Opener, user_id: int, prepare: Callable[[Page], None] | None = None) -> Page:
    page = open_page(f"/sandbox#{user_id}", prepare)
    expect(page.locator(f'.persona.active[data-persona="{user_id}"]')).to_be_visible()
    expect(page.locator("#status")).to_have_text("на связи")
    return page


def switch_persona(page: Page, user_id: int, label: str) -> None:
    page.locator(f'.persona[data-persona="{user_id}"]').click()
    expect(page.locator(f'.persona.active[data-persona="{user_id}"]')).to_be_visible()
    expect(page.locator("#subtitle")).to_have_text(f"вы пишете как: {label}")
    expect(page.locator("#status")).to_have_text("на связи")


def bot_says(page: Page, fragment: str) -> Locator:
    """The bot's message containing `fragment` (the latest such), pinned by its Telegram message id.

    The page re-renders the whole log on every change; an id-based locator survives that.
    """
    found = page.locator(".row.theirs[data-message-id]", has_text=fragment).last
    expect(found).to_be_visible()
    message_id = found.get_attribute("data-message-id")
    return page.locator(f'.row[data-message-id="{message_id}"]')


def type_to_bot(page: Page, text: str, answer: str) -> Locator:
    """Type into the sandbox's input, press Enter, wait for the bot's answer containing `answer`."""
    mine = page.locator(".row.mine", has_text=text)
    before = mine.count()
    box = page.locator("#input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")
    expect(mine).to_have_count(before + 1)
    return bot_says(page, answer)


def press(row: Locator, button: str) -> None:
    """Press an inline button; the page disables it until the bot answers the callback query."""
    key = row.locator(".kbtn", has_text=button)
    expect(key).to_have_count(1)
    expect(key).to_be_enabled()
    key.click()


def buttons(row: Locator) -> Locator:
    return row.locator(".keyboard .kbtn")


def manager_starts_shift(page: Page) -> None:
    expect(page.locator(".empty")).to_contain_text("/start")  # a fresh chat says what to do first
    menu = type_to_bot(page, "/start", "рабочее место менеджера")
    expect(menu.locator(".bubble b", has_text="Как работать")).to_be_visible()  # the bot's HTML, rendered
    expect(buttons(menu)).to_have_text(["🟢 Начать смену", "💬 Мои чаты"])
    expect(page.locator("#commands .chip", has_text="/online")).to_be_visible()  # the bot's command menu
    type_to_bot(page, "/online", "Смена начата")


def visitor_asks_for_manager(page: Page, *, name: str | None = None, phone: str | None = None) -> None:
    page.locator(".ilpo-manager-btn").click()
    expect(page.locator(".ilpo-contact-form")).to_be_visible()
    if name is None:
        page.locator(".ilpo-contact-skip").click()
    else:
        page.locator("input[name=name]").fill(name)
        page.locator("input[name=phone]").fill(phone or "")
        page.locator(".ilpo-contact-submit").click()
    expect(page.locator(".ilpo-contact-form")).to_be_hidden()


def until(page: Page, condition: Callable[[], bool]) -> None:
    """Wait for something a network route handler records (they run while Playwright is waiting)."""
    deadline = time.monotonic() + WAIT / 1000
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(10)


def shot_both(visitor: Page, sandbox: Page, name: str) -> None:
    shot(visitor, f"{name}-widget")
    shot(sandbox, f"{name}-sandbox")


def offer_card(page: Page) -> Locator:
    """The new-chat notification, with its HTML formatting rendered (not shown as tags)."""
    card = bot_says(page, "Клиент ждёт ответа")
    expect(card.locator(".bubble b", has_text=re.compile(r"^Чат поддержки #\d+$"))).to_be_visible()
    expect(card.locator(".bubble b", has_text="Клиент ждёт ответа.")).to_be_visible()
    expect(card.locator(".bubble")).not_to_contain_text("<b>")
    expect(card).not_to_have_attribute("data-edited", "")
    return card


def accept(card: Locator, page: Page) -> None:
    press(card, ACCEPT)
    expect(page.locator("#toast")).to_contain_text("ваш")  # answerCallbackQuery without show_alert: a toast
    expect(card).to_have_attribute("data-edited", "")
    expect(card).to_contain_text("Вы приняли этот чат.")
    expect(card.locator(".meta")).to_contain_text("изменено")
    expect(card.locator(".kbtn", has_text=ACCEPT)).to_have_count(0)
    bot_says(page, "Режим ответа")
