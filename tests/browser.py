"""Playwright helpers shared by the browser tests: the widget as a visitor uses it, and the manager's side
driven through the fake Telegram while the page is open. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from sandbox.bot_api import SentMessage
from tests.clients import MANAGER
from tests.conftest import WAIT, LiveServer

ARTIFACTS = Path(__file__).parent / "artifacts"
MANAGER_NAME = "Анна Смирнова"
ACCEPT = "✅ Принять чат"
CLOSE = "🔚 Завершить"
expect.set_options(timeout=WAIT)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def manager_online(server: LiveServer) -> None:
    async def go() -> None:
        await server.fake.send_message(MANAGER, "/start")
        await server.fake.wait_for_message(MANAGER.id)
        await server.fake.send_message(MANAGER, "/online")
        await server.fake.wait_for_message(MANAGER.id, lambda m: "Смена начата" in (m.text or ""))

    server.call(go())


def press(server: LiveServer, message: SentMessage, button: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        query = await server.fake.press_button(MANAGER, message.message_id, button)
        return await server.fake.wait_callback_answer(query)  # type: ignore[no-any-return]

    return server.call(go())


def manager_closes(server: LiveServer, card: SentMessage) -> None:
    """«🔚 Завершить» on the chat card, then «Да, завершить» on the confirmation it asks."""
    press(server, card, CLOSE)
    confirm = server.call(server.fake.wait_for_message(MANAGER.id, lambda m: "Да, завершить" in m.button_texts))
    press(server, confirm, "Да, завершить")


def manager_accepts(server: LiveServer) -> SentMessage:
    """The manager gets the offer in Telegram and presses "accept"; returns the chat card."""
    offer = server.call(server.fake.wait_for_message(MANAGER.id, lambda m: ACCEPT in m.button_texts, timeout=10))
    answer = press(server, offer, ACCEPT)
    assert "ваш" in str(answer["text"]), answer
    server.call(server.fake.wait_for_message(MANAGER.id, lambda m: "Режим ответа" in (m.text or "")))
    # The offer becomes the chat card by an edit the outbox may send after the reply-mode message: wait for it.
    server.call(server.fake.wait_for_edit(MANAGER.id, offer.message_id, lambda m: CLOSE in m.button_texts))
    return offer


def manager_says(server: LiveServer, text: str) -> None:
    async def go() -> None:
        await server.fake.send_message(MANAGER, text)
        await server.fake.wait_for_message(MANAGER.id, lambda m: "Отправлено клиенту" in (m.text or ""))

    server.call(go())


def manager_receives(server: LiveServer, fragment: str) -> SentMessage:
    return server.call(server.fake.wait_for_message(MANAGER.id, lambda m: fragment in (m.text or ""), timeout=10))


def drop_websockets(server: LiveServer) -> int:
    """Close every widget WebSocket from the server side, as a restart or a proxy would."""
    from widget.fanout import LIVE_SOCKETS

    async def go() -> int:
        sockets = server.product.runner.app[LIVE_SOCKETS].all()
        for ws in sockets:
            await ws.close(code=1012, message=b"test: server drops the socket")
        return len(sockets)

    return server.call(go())


def stored_session(page: Page) -> dict[str, Any]:
    raw = page.evaluate("""() => {
        const key = Object.keys(localStorage).find(k => k.startsWith('ilpo-taxi:'));
        return key ? localStorage.getItem(key) : null;
    }""")
    assert raw, "the widget keeps its session in localStorage"
    return json.loads(raw)  # type: ignore[no-any-return]


def server_events(server: LiveServer, page: Page) -> list[dict[str, Any]]:
    """Everything the server stored for the page's session, through the public API."""
    session = stored_session(page)
    request = urllib.request.Request(
        f"{server.base_url}/api/chat/events?session_id={session['sid']}&after=0&timeout=0",
        headers={"Authorization": f"Bearer {session['token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["events"]  # type: ignore[no-any-return]


def rendered_ids(page: Page) -> list[int]:
    return [int(i) for i in page.locator(".ilpo-msg[data-id]").evaluate_all("els => els.map(e => e.dataset.id)")]


def assert_matches_server(server: LiveServer, page: Page) -> list[int]:
    """The page shows every stored event once, in order: no gap, no duplicate.

    The server may still be adding events (a system message after an AI answer): give the page a moment.
    """
    deadline = time.monotonic() + WAIT / 1000
    while True:
        stored = [e["id"] for e in server_events(server, page)]
        ids = rendered_ids(page)
        if ids == stored or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert ids == sorted(ids) and len(ids) == len(set(ids)), ids
    assert ids == stored
    return ids


def open_chat(page: Page, transport: str = "ws") -> None:
    page.locator("#ilpo-launcher").click()
    expect(page.locator(".ilpo-panel")).to_be_visible()
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", transport)


def ask(page: Page, text: str) -> None:
    """Type into the widget and press Enter; wait until the server stored it."""
    before = page.locator(".user-message[data-id]").count()
    page.locator("textarea.ilpo-input").fill(text)
    page.locator("textarea.ilpo-input").press("Enter")
    expect(page.locator("textarea.ilpo-input")).to_have_value("")
    expect(page.locator(".user-message[data-id]")).to_have_count(before + 1)


def ask_ai(page: Page, text: str) -> None:
    answers = page.locator(".ai-message[data-id]").count()
    ask(page, text)
    expect(page.locator(".ai-message[data-id]")).to_have_count(answers + 1)
    expect(page.locator(".ilpo-typing")).to_be_hidden()


def computed(page: Page, selector: str, *props: str) -> dict[str, str]:
    return page.locator(selector).last.evaluate(
        "(el, props) => { const s = getComputedStyle(el); return Object.fromEntries(props.map(p => [p, s[p]])); }",
        list(props),
    )


def rgb(value: str) -> tuple[int, ...]:
    numbers = re.findall(r"[\d.]+", value)
    assert len(numbers) >= 3, value
    return tuple(int(float(n)) for n in numbers[:3])


def shadow_focus(page: Page) -> str:
    return page.evaluate("() => { const a = document.getElementById('ilpo-taxi-widget').shadowRoot.activeElement;"
                         " return a ? a.className : ''; }")
