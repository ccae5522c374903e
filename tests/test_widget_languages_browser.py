"""The widget's language in a real Chromium: data-locale, then the page's <html lang>, then the browser; the
widget's own words and the server's (system messages from the catalogs) agree, in English and in Russian."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import WAIT, ask_ai
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

# Nobody is online in these desks, so the manager button offers the request form (in the widget's language).
REQUEST_EN = "📝 Leave a request for a manager"
REQUEST_RU = "📝 Оставить заявку менеджеру"


def site(lang: str, data_locale: str | None = None) -> str:
    attribute = f' data-locale="{data_locale}"' if data_locale else ""
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Site</title></head>'
            f'<body><h1>Site</h1><script src="/widget.js"{attribute}></script></body></html>')


@pytest.fixture(params=["ru-RU", "en-US"])
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=request.param)
    context.set_default_timeout(WAIT)
    try:
        yield context
    finally:
        context.close()


def visit(context: BrowserContext, server: LiveServer, html: str) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script("localStorage.clear()")  # each visit is a new visitor, not the last page's session
    page.route(server.base_url + "/site", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(server.base_url + "/site")
    page.locator("#ilpo-launcher").click()
    expect(page.locator(".ilpo-panel")).to_be_visible()
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_the_page_language_wins_over_the_browser(live_server: LiveServer, context: BrowserContext) -> None:
    english = visit(context, live_server, site("en"))
    expect(english.locator("textarea.ilpo-input")).to_have_attribute("placeholder", "Type a message…")
    expect(english.locator(".ilpo-manager-btn")).to_have_text(REQUEST_EN)
    # The server's words come from the catalog in the language the widget told it.
    ask_ai(english, "Hello")
    expect(english.locator(".ai-message[data-id]").last).to_contain_text("I'm the AI consultant")
    expect(english.locator(".ai-message[data-id]").last).to_contain_text("Contact a live manager")
    assert english.errors == []  # type: ignore[attr-defined]

    russian = visit(context, live_server, site("ru"))
    expect(russian.locator("textarea.ilpo-input")).to_have_attribute("placeholder", "Напишите сообщение…")
    expect(russian.locator(".ilpo-manager-btn")).to_have_text(REQUEST_RU)
    ask_ai(russian, "Здравствуйте")
    expect(russian.locator(".ai-message[data-id]").last).to_contain_text("Я ИИ-консультант")
    assert russian.errors == []  # type: ignore[attr-defined]


def test_data_locale_wins_over_the_page(live_server: LiveServer, context: BrowserContext) -> None:
    page = visit(context, live_server, site("ru", data_locale="en"))
    expect(page.locator(".ilpo-manager-btn")).to_have_text(REQUEST_EN)
    # A page in a language the widget does not speak: the browser decides.
    other = visit(context, live_server, site("de"))
    browser_english = context.pages[0].evaluate("navigator.language").startswith("en")
    expected = REQUEST_EN if browser_english else REQUEST_RU
    expect(other.locator(".ilpo-manager-btn")).to_have_text(expected)
