"""Topic mode on the /sandbox page in a real Chromium: a fleet tries a topic per conversation without a token.

The product runs with SANDBOX_TOPICS=1 (the fake bot's getMe says has_topics_enabled). The manager accepts a
visitor's chat on the page, the chat's topic appears as a tab with the card and the visitor's messages, what the
manager types in that tab reaches the visitor's widget, and an edit there rewrites the widget's bubble."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser import ACCEPT, ask, open_chat
from tests.conftest import LiveServer, Opener
from tests.sandbox_page import bot_says, offer_card, open_sandbox, persona_id, press, visitor_asks_for_manager

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(clean_database: str) -> Iterator[LiveServer]:
    server = LiveServer(clean_database, SANDBOX_TOPICS="1")
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.fake.violations == [], f"calls outside the Bot API spec: {server.fake.violations}"


def test_topic_tabs_on_the_sandbox_page(live_server: LiveServer, open_page: Opener) -> None:
    manager_id = persona_id(live_server, "manager")
    sandbox = open_sandbox(open_page, manager_id)
    box = _go_on_shift(sandbox)
    expect(sandbox.locator("#topics .chip")).to_have_count(0)  # no topics yet: no tabs

    visitor = open_page("/")
    open_chat(visitor)
    visitor_asks_for_manager(visitor, name="Тимур", phone="+7 900 111-22-33")
    press(offer_card(sandbox), ACCEPT)

    tab = sandbox.locator("#topics .chip", has_text="Тимур")
    expect(tab).to_be_visible()
    expect(sandbox.locator("#topics .chip", has_text="Общий чат")).to_be_visible()
    tab.click()
    expect(sandbox.locator("#topics .chip.on", has_text="Тимур")).to_be_visible()
    bot_says(sandbox, "Пишите прямо в эту тему")  # the card opens the topic
    ask(visitor, "Здравствуйте, вопрос про выплаты")
    bot_says(sandbox, "вопрос про выплаты")

    box.fill("Сейчас подскажу")
    box.press("Enter")
    expect(sandbox.locator(".row.mine", has_text="Сейчас подскажу")).to_be_visible()
    expect(visitor.locator(".manager-message", has_text="Сейчас подскажу")).to_be_visible()

    # The general thread keeps its own messages; the topic's are not there.
    sandbox.locator("#topics .chip", has_text="Общий чат").click()
    bot_says(sandbox, "Смена начата")
    expect(sandbox.locator(".row", has_text="Сейчас подскажу")).to_have_count(0)

    # An edit in Telegram reaches the widget, marked as edited.
    async def edit() -> None:
        fake = live_server.fake
        thread = next(t.message_thread_id for t in fake.topics(manager_id))
        mine = next(m for m in fake.thread(manager_id, thread) if m.text == "Сейчас подскажу")
        user = fake.user(manager_id)
        assert user is not None
        await fake.edit_message(user, mine.message_id, "Сейчас подскажу подробно")

    live_server.call(edit())
    edited = visitor.locator(".manager-message .ilpo-text[data-ed]")
    expect(edited).to_have_text("Сейчас подскажу подробно")


def test_saved_replies_through_inline_mode_on_the_sandbox_page(
    live_server: LiveServer, open_page: Opener
) -> None:
    """The sandbox's bot has inline mode: «🔎 Найти и изменить» puts «@bot #N » into the input, the page lists the
    bot's results, a tap on one sends it in the chat's topic, and it reaches that chat's visitor."""
    live_server.call(live_server.service.templates.add(1, "Приветствие", "Здравствуйте, {name}! Чем помочь?"))
    live_server.call(live_server.service.templates.add(1, "Документы", "Пришлите фото прав и паспорта."))
    manager_id = persona_id(live_server, "manager")
    sandbox = open_sandbox(open_page, manager_id)
    box = _go_on_shift(sandbox)
    visitor = open_page("/")
    open_chat(visitor)
    visitor_asks_for_manager(visitor, name="Софья", phone="+7 900 222-33-44")
    press(offer_card(sandbox), ACCEPT)
    sandbox.locator("#topics .chip", has_text="Софья").click()

    press(bot_says(sandbox, "Пишите прямо в эту тему"), "📝 Шаблоны")
    listing = bot_says(sandbox, "Шаблоны для чата")  # in the topic, where the button was pressed
    press(listing, "🔎 Найти и изменить")
    bot = live_server.fake.bot_user()["username"]
    expect(box).to_have_value(re.compile(rf"^@{bot} #\d+ $"))
    results = sandbox.locator("#inline .iresult")
    expect(results).to_have_count(2)
    expect(results.first).to_contain_text("Документы")

    box.press_sequentially("здравств")  # typing filters, as Telegram asks the bot again
    expect(results).to_have_count(2)  # what is typed itself, then the one template that matches
    expect(results.nth(0)).to_contain_text("Отправить этот текст")
    expect(results.nth(1)).to_contain_text("Здравствуйте, Софья! Чем помочь?")
    results.nth(1).click()

    expect(box).to_have_value("")
    expect(sandbox.locator("#inline")).to_be_hidden()
    expect(sandbox.locator(".row.mine", has_text="Здравствуйте, Софья! Чем помочь?")).to_be_visible()
    expect(visitor.locator(".manager-message", has_text="Здравствуйте, Софья! Чем помочь?")).to_be_visible()
    bot_says(sandbox, "Отправлено клиенту")


def _go_on_shift(sandbox: Page) -> Locator:
    """/start and /online typed back to back (the module's sandbox may already hold earlier tests' messages);
    the input box, for what the test types next."""
    box = sandbox.locator("#input")
    for command in ("/start", "/online"):
        box.fill(command)
        box.press("Enter")
    bot_says(sandbox, "Смена начата")
    return box
