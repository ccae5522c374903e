"""What a visitor reads and sees, in a real Chromium on a desktop and on a 390×844 phone.

One language (a refused file is explained in Russian), a photo shown whole once it has loaded, a header and a
footer that follow the mode (the AI disclaimer only while the AI answers; no "online" while reconnecting), and
a queue that never promises an estimate when nobody is online. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser import (
    MANAGER_NAME,
    ask,
    drop_websockets,
    manager_accepts,
    manager_closes,
    manager_online,
    open_chat,
    shot,
)
from tests.conftest import VIEWPORTS, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("device", list(VIEWPORTS))]

def png(width: int, height: int) -> bytes:
    """A real, decodable PNG (a flat colour), so the browser lays it out at its true size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xf5\x9e\x0b" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def fully_inside(page: Page, inner: str, outer: str) -> bool:
    return bool(page.evaluate(
        """([inner, outer]) => {
            const root = document.getElementById('ilpo-taxi-widget').shadowRoot;
            const a = root.querySelector(inner).getBoundingClientRect();
            const b = root.querySelector(outer).getBoundingClientRect();
            return a.height > 100 && a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
        }""", [inner, outer]))


def test_a_refused_file_is_explained_in_russian_and_a_photo_shows_whole(
    live_server: LiveServer, page: Page, device: str, tmp_path: Path
) -> None:
    manager_online(live_server)
    page.goto(live_server.base_url + "/")
    open_chat(page)
    page.locator(".ilpo-manager-btn").click()
    page.locator(".ilpo-contact-skip").click()
    manager_accepts(live_server)
    expect(page.locator(".ilpo-status")).to_contain_text(MANAGER_NAME)
    for n in range(6):  # enough to make the list scroll
        ask(page, f"Сообщение номер {n + 1}, чтобы список прокручивался")

    script = tmp_path / "script.sh"
    script.write_bytes(b"#!/bin/sh\necho hi\n")
    page.locator(".ilpo-file-input").set_input_files(str(script))
    error = page.locator(".ilpo-error")
    expect(error).to_have_text("Можно отправить только фото (JPEG, PNG, WebP, HEIC) или PDF.")
    shot(page, f"visitor-refused-file-{device}")

    photo = tmp_path / "права.png"
    photo.write_bytes(png(600, 800))
    page.locator(".ilpo-file-input").set_input_files(str(photo))
    image = page.locator(".user-message[data-id] .ilpo-file img").last
    expect(image).to_have_attribute("alt", "права.png")
    page.wait_for_function(
        "() => { const i = document.getElementById('ilpo-taxi-widget').shadowRoot"
        ".querySelector('.user-message[data-id] .ilpo-file img'); return i && i.complete && i.naturalHeight > 0; }")
    page.wait_for_function(
        """() => { const r = document.getElementById('ilpo-taxi-widget').shadowRoot;
                   const m = r.querySelector('.ilpo-messages');
                   return m.scrollHeight - m.scrollTop - m.clientHeight < 2; }""")
    assert fully_inside(page, ".user-message[data-id] .ilpo-file img", ".ilpo-messages")
    shot(page, f"visitor-photo-{device}")


def test_header_and_footer_follow_the_mode_and_the_queue_does_not_contradict_itself(
    live_server: LiveServer, context: BrowserContext, page: Page, device: str
) -> None:
    page.goto(live_server.base_url + "/")
    open_chat(page)
    status, note = page.locator(".ilpo-status"), page.locator(".ilpo-note")
    expect(status).to_have_text("ИИ-консультант онлайн")
    expect(note).to_be_visible()
    expect(note).to_contain_text("ИИ может ошибаться")

    # Nobody is online: the button takes a request instead of promising a manager.
    button = page.locator(".ilpo-manager-btn")
    expect(button).to_have_text("📝 Оставить заявку менеджеру")
    button.click()
    expect(page.locator(".ilpo-contact-form")).to_contain_text("менеджеров нет на связи")
    page.locator("input[name=name]").fill("Ольга")
    page.locator("input[name=phone]").fill("+7 900 000-00-00")
    page.locator(".ilpo-contact-submit").click()
    expect(status).to_contain_text("В очереди")
    system = page.locator(".system-message[data-id]")
    expect(system.filter(has_text="нет менеджеров онлайн")).to_have_count(1)
    expect(system.filter(has_text="первый, кто выйдет на связь")).to_have_count(1)
    expect(system.filter(has_text="Вы первый в очереди.")).to_have_count(1)
    texts = " ".join(system.all_inner_texts())
    assert "ожидание" not in texts and "мин." not in texts, texts
    expect(note).to_be_hidden()  # the AI is not answering any more
    shot(page, f"visitor-queued-nobody-online-{device}")

    # A manager takes the chat: their name in the header, still no AI disclaimer.
    manager_online(live_server)
    manager_accepts(live_server)
    expect(status).to_have_text(f"Менеджер: {MANAGER_NAME}")
    expect(system.filter(has_text=f"{MANAGER_NAME}, менеджер, теперь в чате")).to_have_count(1)
    expect(note).to_be_hidden()

    # The connection drops: the banner says so, and the header stops claiming anything is online.
    context.set_offline(True)
    drop_websockets(live_server)
    expect(page.locator(".ilpo-conn")).to_be_visible()
    expect(status).to_be_hidden()
    shot(page, f"visitor-reconnecting-{device}")
    context.set_offline(False)
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
    expect(status).to_be_visible()
    expect(page.locator(".ilpo-conn")).to_be_hidden()


def test_the_rating_comment_placeholder_fits(live_server: LiveServer, page: Page, device: str) -> None:
    manager_online(live_server)
    page.goto(live_server.base_url + "/")
    open_chat(page)
    page.locator(".ilpo-manager-btn").click()
    page.locator(".ilpo-contact-skip").click()
    card = manager_accepts(live_server)
    manager_closes(live_server, card)
    expect(page.locator(".ilpo-note")).to_be_visible()  # back with the AI
    expect(page.locator(".ilpo-status")).to_have_text("ИИ-консультант онлайн")
    page.locator(".ilpo-star[data-rating='4']").click()
    comment = page.locator(".ilpo-rate-comment")
    expect(comment).to_be_visible()
    fits = comment.evaluate(
        """el => { const c = document.createElement('canvas').getContext('2d');
                   const s = getComputedStyle(el); c.font = s.fontSize + ' ' + s.fontFamily;
                   const room = el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
                   return c.measureText(el.placeholder).width <= room; }""")
    assert fits, "the placeholder is cut off"
    shot(page, f"visitor-rating-{device}")
