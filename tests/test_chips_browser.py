"""Quick-reply chips in a real Chromium, on a desktop and on a 390×844 phone: the top questions when the chat
opens, a click that sends the chip's text and gets it answered, related chips under the answer (and after a
reload), gone once the visitor writes. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from models import ChatMessage, Sender
from tests.browser import open_chat, shot
from tests.conftest import VIEWPORTS, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("device", list(VIEWPORTS))]

def inside_panel(page: Page, selector: str) -> bool:
    """Every element matching `selector` lies within the panel's width (nothing cut off on a phone)."""
    return bool(page.evaluate(
        """(selector) => {
            const root = document.getElementById('ilpo-taxi-widget').shadowRoot;
            const panel = root.querySelector('.ilpo-messages').getBoundingClientRect();
            const all = [...root.querySelectorAll(selector)];
            return all.length > 0 && all.every(el => { const r = el.getBoundingClientRect();
                return r.width > 0 && r.left >= panel.left - 1 && r.right <= panel.right + 1; });
        }""", selector))


def answered_topics(server: LiveServer) -> list[list[str]]:
    """The knowledge entries each stored AI answer came from, oldest first."""
    async def go() -> list[list[str]]:
        rows = await ChatMessage.select().where(ChatMessage.sender == Sender.AI).order_by(ChatMessage.id).aio_execute()
        return [json.loads(row.meta)["topics"] for row in rows]

    return server.call(go())


def test_chips_on_open_a_click_sends_and_related_chips_follow_the_answer(
    live_server: LiveServer, page: Page, device: str
) -> None:
    opening = live_server.service.assistant.consultant.quick_replies("ru")
    page.goto(live_server.base_url + "/")
    open_chat(page)
    chips = page.locator(".ilpo-chip")
    expect(chips).to_have_text(opening)
    for n in range(len(opening)):
        expect(chips.nth(n)).to_be_in_viewport()
    assert inside_panel(page, ".ilpo-chip")
    shot(page, f"chips-opening-{device}")

    chips.first.click()
    expect(page.locator(".user-message[data-id] .ilpo-text")).to_have_text([opening[0]])
    expect(page.locator(".ai-message[data-id]")).to_have_count(1)
    assert answered_topics(live_server) == [[opening[0]]]  # by the chip's own entry
    expect(page.locator("textarea.ilpo-input")).to_have_value("")

    # Related chips under the answer, none of them the question just asked.
    related = page.locator(".ilpo-chips .ilpo-chip")
    expect(related.first).to_be_visible()
    texts = related.all_inner_texts()
    assert 1 <= len(texts) <= 3 and opening[0] not in texts
    expect(related.first).to_be_in_viewport()
    assert inside_panel(page, ".ilpo-chip")
    shot(page, f"chips-related-{device}")

    # A reload shows the latest answer's chips again.
    page.reload()
    if not page.locator(".ilpo-panel").is_visible():  # phones do not reopen the panel by themselves
        open_chat(page)
    expect(page.locator(".ai-message[data-id]")).to_have_count(1)
    expect(page.locator(".ilpo-chip")).to_have_text(texts)

    # A related chip is sent and answered in turn; the chips shown are always the latest answer's.
    page.locator(".ilpo-chip").first.click()
    expect(page.locator(".user-message[data-id]")).to_have_count(2)
    expect(page.locator(".user-message[data-id] .ilpo-text").last).to_have_text(texts[0])
    expect(page.locator(".ai-message[data-id]")).to_have_count(2)
    assert answered_topics(live_server)[-1] == [texts[0]]

    # Only the latest answer has chips: one block at most, right under it.
    assert page.evaluate("""() => {
        const root = document.getElementById('ilpo-taxi-widget').shadowRoot;
        const boxes = root.querySelectorAll('.ilpo-chips');
        const last = [...root.querySelectorAll('.ilpo-msg[data-id]')].pop();
        return boxes.length === 0 || (boxes.length === 1 && last.nextElementSibling === boxes[0]);
    }""")


def test_typing_instead_of_clicking_takes_the_opening_chips_away(live_server: LiveServer, page: Page) -> None:
    """A greeting gets an answer with no chips, so none show from then on, not even after a reload."""
    page.goto(live_server.base_url + "/")
    open_chat(page)
    expect(page.locator(".ilpo-chip").first).to_be_visible()
    page.locator("textarea.ilpo-input").fill("Добрый день")
    page.locator("textarea.ilpo-input").press("Enter")
    expect(page.locator(".ilpo-chip")).to_have_count(0)
    expect(page.locator(".ai-message[data-id]")).to_have_count(1)  # a greeting's answer offers no chips
    expect(page.locator(".ilpo-chip")).to_have_count(0)
    page.reload()
    if not page.locator(".ilpo-panel").is_visible():
        open_chat(page)
    expect(page.locator(".ai-message[data-id]")).to_have_count(1)
    expect(page.locator(".ilpo-chip")).to_have_count(0)  # not the opening ones again: the chat has begun
