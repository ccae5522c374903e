"""The widget's proactive greeting and the conversation by email, in a real Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, expect

from models import GreetingShow
from tests.browser import WAIT, ask_ai, open_chat
from tests.conftest import LiveServer
from tests.fakes import Inbox, free_port, parts, smtp_env

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    context.set_default_timeout(WAIT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_a_greeting_appears_after_its_delay_opens_on_desktop_and_only_once_a_day(
    live_server: LiveServer, page: Page
) -> None:
    greetings = live_server.service.greetings
    rule = live_server.call(greetings.create(url_pattern="/*", delay_seconds=1, open_on_desktop=True,
                                             text="Хотите подключиться сегодня? Я подскажу."))
    page.goto(live_server.base_url + "/")
    bubble = page.locator(".ilpo-proactive")
    expect(bubble).to_have_count(0)
    page.wait_for_timeout(300)
    expect(page.locator(".ilpo-panel")).to_be_hidden()  # not before its delay
    expect(bubble).to_have_text("Хотите подключиться сегодня? Я подскажу.")
    expect(page.locator(".ilpo-panel")).to_be_visible()  # the rule opens the widget on a desktop
    ask_ai(page, "Какие документы нужны?")
    figures = live_server.call(greetings.figures())[rule.id]
    assert (figures.shown, figures.chats) == (1, 1)

    # The same visitor on another page the same day: no second greeting.
    page.goto(live_server.base_url + "/?again=1")
    page.wait_for_timeout(1800)
    expect(bubble).to_have_count(0)
    assert live_server.call(GreetingShow.select().aio_count()) == 1


def test_a_greeting_that_does_not_open_counts_the_visitors_own_open(live_server: LiveServer, page: Page) -> None:
    greetings = live_server.service.greetings
    rule = live_server.call(greetings.create(url_pattern="*", delay_seconds=0, text="Вопросы о выплатах?"))
    page.goto(live_server.base_url + "/")
    expect(page.locator(".ilpo-badge")).to_be_visible()  # the greeting waits behind the launcher
    expect(page.locator(".ilpo-panel")).to_be_hidden()
    open_chat(page)
    expect(page.locator(".ilpo-proactive")).to_have_text("Вопросы о выплатах?")
    page.wait_for_timeout(300)
    figures = live_server.call(greetings.figures())[rule.id]
    assert (figures.shown, figures.opened, figures.chats) == (1, 1, 0)


@pytest.fixture
def mail_server(clean_database: str) -> Iterator[tuple[LiveServer, Inbox]]:
    port, inbox = free_port(), Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    server = LiveServer(clean_database, **smtp_env(port))
    server.start()
    try:
        yield server, inbox
    finally:
        server.stop()
        controller.stop()


def test_the_visitor_emails_the_conversation_from_the_widget(mail_server: tuple[LiveServer, Inbox],
                                                             page: Page) -> None:
    server, inbox = mail_server
    page.goto(server.base_url + "/")
    open_chat(page)
    ask_ai(page, "Как получать выплаты?")
    button = page.locator(".ilpo-mail")
    expect(button).to_be_visible()
    button.click()
    page.locator(".ilpo-mail-form input").fill("driver@example.com")
    page.locator(".ilpo-mail-form button").click()
    expect(page.locator(".ilpo-mailed")).to_have_text("Отправим переписку на почту.")
    [message] = server.call(inbox.wait())
    text, html = parts(message)
    assert "Как получать выплаты?" in text and "Как получать выплаты?" in html


def test_without_smtp_the_widget_offers_no_email(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.base_url + "/")
    open_chat(page)
    ask_ai(page, "Как получать выплаты?")
    page.wait_for_timeout(300)
    expect(page.locator(".ilpo-mail")).to_be_hidden()
