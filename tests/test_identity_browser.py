"""The visitor's context and identity from a real Chromium: two pages visited, then the chat; the manager's card
in Telegram shows where they came from, what they looked at, their device and local time, and ✔️ проверен."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import WAIT, manager_online, press
from tests.clients import MANAGER
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser
SECRET = "site-secret-0123456789abcdef"


@pytest.fixture
def identity_server(clean_database: str) -> Iterator[LiveServer]:
    server = LiveServer(clean_database, IDENTITY_SECRET=SECRET)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert server.fake.violations == [], f"calls outside the Bot API spec: {server.fake.violations}"


def test_two_pages_then_a_chat_put_the_context_on_the_card(identity_server: LiveServer, browser: Browser) -> None:
    server = identity_server
    manager_online(server)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU",
                                  timezone_id="Asia/Yekaterinburg")
    context.set_default_timeout(WAIT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server.base_url}/?utm_source=yandex&utm_campaign=drivers-spring",
                  referer="https://www.google.com/search?q=taxi")
        expect(page.locator("#ilpo-launcher")).to_be_visible()
        page.goto(f"{server.base_url}/?lang=ru&section=cars")
        page.locator("#ilpo-launcher").click()
        expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
        digest = hmac.new(SECRET.encode(), b"site-user-1", hashlib.sha256).hexdigest()
        page.evaluate("h => ILPO.identify({id: 'site-user-1', name: 'Ирина <b>', phone: '+7 912 345-67-89', hash: h})",
                      digest)
        expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
        page.wait_for_function("() => Object.keys(localStorage).some(k => (localStorage.getItem(k) || '')"
                               ".includes('site-user-1'))")
        page.locator(".ilpo-manager-btn").click()
        page.locator(".ilpo-contact-skip").click()  # the demo page asks for contacts; identify gave them
        offer = server.call(server.fake.wait_for_message(MANAGER.id, lambda m: "✅ Принять чат" in m.button_texts,
                                                         timeout=10))
        card = offer.text
        assert "👤 Клиент: Ирина <b> ✔️ проверен" in card  # escaped HTML arrives as text
        assert "🧭 Откуда: www.google.com · yandex · drivers-spring" in card
        assert "📄 Страниц за визит: 2" in card
        assert "💻 Linux · Chrome" in card
        assert "(UTC+5)" in card and "🕰 У клиента сейчас" in card
        assert "section=cars" in card  # the page the chat was opened on

        press(server, offer, "📋 Подробности")
        details = server.call(server.fake.wait_for_message(MANAGER.id, lambda m: "📋 Чат #" in (m.text or "")))
        assert "🪪 ID на сайте: site-user-1 (✔️ проверен)" in details.text
        assert "utm_campaign: drivers-spring" in details.text
        assert "🧭 Пришёл с: https://www.google.com/search?q=taxi" in details.text
        assert "📄 Страницы за визит (2):" in details.text
        visited = details.text.split("📄 Страницы за визит (2):")[1]
        assert visited.index("utm_source=yandex") < visited.index("section=cars")  # oldest first
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
