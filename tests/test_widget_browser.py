"""The chat widget in a real Chromium against the running product (fake Telegram for the manager).

What a visitor sees: the demo page, the AI answer, the handoff with the contact form, the manager's reply in
its own style, the history after a reload, recovery after the server drops the WebSocket, long-poll when
WebSockets are unavailable, a message typed offline delivered exactly once, the unread badge, an embedding
site's hostile CSS, and the data- options. A screenshot of each state goes to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, expect

from tests.browser import (
    MANAGER_NAME,
    WAIT,
    ask,
    ask_ai,
    assert_matches_server,
    computed,
    drop_websockets,
    manager_accepts,
    manager_closes,
    manager_online,
    manager_receives,
    manager_says,
    open_chat,
    rendered_ids,
    rgb,
    server_events,
    shadow_focus,
    shot,
    stored_session,
)
from tests.clients import MANAGER
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser



# ---------------------------------------------------------------- tests


def test_demo_page_chat_handoff_styles_reload_and_ws_drop(live_server: LiveServer, page: Page) -> None:
    manager_online(live_server)
    sockets: list[str] = []
    auth_frames: list[dict[str, Any]] = []  # what each socket said first: who it is and where it resumes

    def watch(ws: WebSocket) -> None:
        sockets.append(ws.url)
        ws.on("framesent", lambda payload: auth_frames.append(json.loads(payload))
              if '"type":"auth"' in str(payload) else None)

    page.on("websocket", watch)

    page.goto(live_server.base_url + "/")
    expect(page.locator("h1")).to_contain_text("Стань водителем ILPO-TAXI")
    assert page.locator("#ilpo-taxi-widget").evaluate("el => !!el.shadowRoot")
    expect(page.locator("#ilpo-launcher")).to_be_visible()
    shot(page, "01-landing")

    # Open: focus moves into the panel, the greeting is there, the WebSocket is up.
    open_chat(page)
    assert "ilpo-input" in shadow_focus(page)
    expect(page.locator(".ilpo-messages")).to_have_attribute("role", "log")
    expect(page.locator(".ilpo-messages")).to_have_attribute("aria-live", "polite")
    expect(page.locator(".ilpo-status")).to_have_text("ИИ-консультант онлайн")

    # Shift+Enter is a new line, Enter sends.
    box = page.locator("textarea.ilpo-input")
    box.type("первая строка")
    box.press("Shift+Enter")
    box.type("вторая")
    assert box.input_value() == "первая строка\nвторая"
    box.fill("")
    ask_ai(page, "Какие документы нужны для подключения?")
    expect(page.locator(".ai-message[data-id]").last).to_contain_text("паспорт")
    shot(page, "02-ai-answer")

    # The handoff: the contact form is validated, then the wait is shown in the header.
    page.locator(".ilpo-manager-btn").click()
    form = page.locator(".ilpo-contact-form")
    expect(form).to_be_visible()
    page.locator(".ilpo-contact-submit").click()
    expect(page.locator("input[name=name]")).to_have_attribute("aria-invalid", "true")
    page.locator("input[name=name]").fill("Пётр")
    page.locator("input[name=phone]").fill("12-34")
    page.locator(".ilpo-contact-submit").click()
    expect(page.locator("input[name=phone]")).to_have_attribute("aria-invalid", "true")
    expect(form).to_be_visible()
    shot(page, "03-contact-form")
    page.locator("input[name=phone]").fill("+7 (900) 123-45-67")
    page.locator(".ilpo-contact-submit").click()
    expect(form).to_be_hidden()
    expect(page.locator(".ilpo-status")).to_have_text("Ищем менеджера…")
    expect(page.locator(".ilpo-manager-btn")).to_be_hidden()
    expect(page.locator(".system-message[data-id]")).to_have_count(1)
    shot(page, "04-waiting-for-manager")

    # The manager accepts in Telegram and answers; the visitor sees the name and the styled reply.
    card = manager_accepts(live_server)
    expect(page.locator(".ilpo-status")).to_contain_text(MANAGER_NAME)
    manager_says(live_server, "Здравствуйте! **Поможем** с подключением.")
    reply = page.locator(".manager-message[data-id]")
    expect(reply).to_have_count(1)
    expect(reply.locator(".ilpo-author")).to_have_text(MANAGER_NAME)
    expect(reply.locator("strong")).to_have_text("Поможем")  # Markdown rendered by the server
    ask(page, "Спасибо! А <b>права</b> другой страны подойдут?")
    relayed = manager_receives(live_server, "права")
    assert "<b>права</b>" in relayed.text  # the visitor's text travelled as text
    expect(page.locator(".user-message[data-id]").last.locator("b")).to_have_count(0)
    shot(page, "05-manager-reply")

    # The four message types, as the product spec draws them.
    ai = computed(page, ".ai-message[data-id]", "backgroundColor", "borderTopLeftRadius")
    r, g, b = rgb(ai["backgroundColor"])
    assert b > r and b > g and b > 200, ai  # blue
    assert float(ai["borderTopLeftRadius"].rstrip("px")) >= 8
    user = computed(page, ".user-message[data-id]", "backgroundColor", "alignSelf")
    r, g, b = rgb(user["backgroundColor"])
    assert max(r, g, b) - min(r, g, b) <= 12 and 180 < r < 245, user  # grey
    assert user["alignSelf"] == "flex-end"
    messages_box = page.locator(".ilpo-messages").bounding_box()
    user_box = page.locator(".user-message[data-id]").last.bounding_box()
    assert messages_box and user_box
    assert messages_box["x"] + messages_box["width"] - (user_box["x"] + user_box["width"]) < 30  # right-aligned
    manager = computed(page, ".manager-message[data-id]", "backgroundImage", "color")
    assert "linear-gradient" in manager["backgroundImage"], manager
    stops = [rgb(c) for c in re.findall(r"rgba?\([^)]*\)", manager["backgroundImage"])]
    assert stops and all(gg > rr and gg > bb for rr, gg, bb in stops), manager  # green
    assert rgb(manager["color"]) == (255, 255, 255)
    system = computed(page, ".system-message[data-id]", "backgroundColor", "borderTopColor", "borderTopWidth",
                      "textAlign", "alignSelf")
    r, g, b = rgb(system["backgroundColor"])
    assert r > 230 and g > 200 and b < r - 30, system  # yellow
    assert system["borderTopWidth"] != "0px" and system["textAlign"] == "center" and system["alignSelf"] == "center"
    ids = assert_matches_server(live_server, page)

    # Reload: the same history, the manager still in the header.
    page.reload()
    expect(page.locator(".ilpo-panel")).to_be_visible()  # the panel stays open across pages
    expect(page.locator(".ilpo-msg[data-id]")).to_have_count(len(ids))
    assert rendered_ids(page) == ids
    expect(page.locator(".ilpo-status")).to_contain_text(MANAGER_NAME)
    expect(page.locator(".ilpo-manager-btn")).to_be_hidden()
    shot(page, "06-after-reload")

    # The server drops the socket; a manager message sent meanwhile arrives once, nothing is lost.
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
    opened = len(sockets)
    assert drop_websockets(live_server) >= 1
    manager_says(live_server, "Пока вы переподключались, я проверил документы.")
    expect(page.locator(".manager-message[data-id]")).to_have_count(2)
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
    assert len(sockets) > opened, "the widget opened a new WebSocket"
    assert auth_frames[-1]["after"] >= ids[-1], auth_frames[-1]  # resumed from the last event id, not from zero
    token = stored_session(page)["token"]
    assert auth_frames[-1]["token"] == token and not any(token in url for url in sockets)  # never in a URL
    ask(page, "Отлично, спасибо")
    manager_receives(live_server, "Отлично, спасибо")
    assert_matches_server(live_server, page)
    shot(page, "07-after-ws-drop")

    # The manager closes the chat: back to the AI, the button is there again.
    manager_closes(live_server, card)
    closing = page.locator(".system-message[data-id]").last
    expect(closing).to_contain_text("менеджер, завершает чат")
    expect(page.locator(".ilpo-status")).to_have_text("ИИ-консультант онлайн")
    expect(page.locator(".ilpo-manager-btn")).to_be_visible()

    # The visitor rates the manager; the manager hears about it in Telegram.
    expect(closing.locator(".ilpo-star")).to_have_count(5)
    shot(page, "08-rate-the-manager")
    closing.locator(".ilpo-star[data-rating='5']").click()
    expect(closing.locator(".ilpo-star.ilpo-on")).to_have_count(5)
    closing.locator(".ilpo-rate-comment").fill("Всё понятно, спасибо")
    closing.locator(".ilpo-rate-send").click()
    expect(closing.locator(".ilpo-rating")).to_have_text("Спасибо за оценку!")
    stars = manager_receives(live_server, "оценил чат").text
    assert "5/5" in stars and "Всё понятно, спасибо" in stars
    page.reload()
    assert_matches_server(live_server, page)  # the whole history is back
    expect(page.locator(".system-message[data-id]").last.locator(".ilpo-rating")).to_have_count(0)  # asked once
    ask_ai(page, "Сколько стоит аренда?")
    assert_matches_server(live_server, page)
    shot(page, "08-chat-closed")


def test_queue_when_nobody_is_online_then_a_manager_comes(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.base_url + "/")
    open_chat(page)
    page.locator(".ilpo-manager-btn").click()
    page.locator("input[name=name]").fill("Ольга")
    page.locator("input[name=phone]").fill("8 900 000 00 00")
    page.locator(".ilpo-contact-submit").click()
    expect(page.locator(".ilpo-status")).to_contain_text("В очереди")
    expect(page.locator(".system-message[data-id]").last).to_contain_text("очеред")
    expect(page.locator(".ilpo-manager-btn")).to_be_hidden()
    shot(page, "18-queued")

    manager_online(live_server)
    manager_accepts(live_server)
    expect(page.locator(".ilpo-status")).to_contain_text(MANAGER_NAME)
    manager_says(live_server, "Ольга, добрый день!")
    expect(page.locator(".manager-message[data-id]")).to_contain_text("Ольга, добрый день!")
    assert_matches_server(live_server, page)


@pytest.mark.parametrize("block", ["no-websocket", "websocket-fails"])
def test_long_poll_when_websockets_are_blocked(live_server: LiveServer, page: Page, block: str) -> None:
    if block == "no-websocket":
        page.add_init_script("window.WebSocket = undefined;")
    else:  # every WebSocket goes to a port where nothing listens
        page.add_init_script("""(() => {
            const Real = window.WebSocket;
            window.WebSocket = function () { return new Real('ws://127.0.0.1:9/'); };
        })();""")
    manager_online(live_server)
    page.goto(live_server.base_url + "/")
    open_chat(page, transport="longpoll")
    ask_ai(page, "Как часто выплаты?")

    page.locator(".ilpo-manager-btn").click()
    page.locator(".ilpo-contact-skip").click()
    expect(page.locator(".ilpo-status")).to_have_text("Ищем менеджера…")
    manager_accepts(live_server)
    expect(page.locator(".ilpo-status")).to_contain_text(MANAGER_NAME)
    manager_says(live_server, "Отвечаю через long-poll")
    expect(page.locator(".manager-message[data-id]")).to_contain_text("Отвечаю через long-poll")
    ask(page, "Вижу ответ")
    manager_receives(live_server, "Вижу ответ")
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "longpoll")
    assert_matches_server(live_server, page)
    shot(page, f"09-longpoll-{block}")


def test_message_typed_offline_is_sent_once_on_reconnection(
    live_server: LiveServer, context: BrowserContext, page: Page
) -> None:
    page.goto(live_server.base_url + "/")
    open_chat(page)
    ask_ai(page, "Какие требования к водителю?")

    context.set_offline(True)
    drop_websockets(live_server)
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "offline")
    page.locator("textarea.ilpo-input").fill("Написал без сети")
    page.locator("textarea.ilpo-input").press("Enter")
    pending = page.locator(".user-message.ilpo-pending")
    expect(pending).to_have_count(1)
    assert [m["text"] for m in stored_session(page)["q"]] == ["Написал без сети"]
    shot(page, "10-offline-queued")

    context.set_offline(False)
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
    expect(pending).to_have_count(0)
    expect(page.locator(".ai-message[data-id]")).to_have_count(2)  # the AI answered the queued question
    assert stored_session(page)["q"] == []
    sent = [e for e in server_events(live_server, page) if e["text"] == "Написал без сети"]
    assert len(sent) == 1, sent
    expect(page.locator(".user-message", has_text="Написал без сети")).to_have_count(1)
    assert_matches_server(live_server, page)

    # A reload resends nothing and shows nothing twice.
    ids = rendered_ids(page)
    page.reload()
    expect(page.locator(".ilpo-msg[data-id]")).to_have_count(len(ids))
    assert rendered_ids(page) == ids
    expect(page.locator(".user-message", has_text="Написал без сети")).to_have_count(1)
    assert len([e for e in server_events(live_server, page) if e["text"] == "Написал без сети"]) == 1
    shot(page, "11-offline-delivered")


def test_rejected_session_is_dropped_for_a_new_one(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.base_url + "/")
    open_chat(page)
    ask_ai(page, "Какие документы нужны?")
    old = stored_session(page)["sid"]
    page.evaluate("""() => {
        const key = Object.keys(localStorage).find(k => k.startsWith('ilpo-taxi:'));
        const s = JSON.parse(localStorage.getItem(key));
        s.token = 'not-the-token';
        localStorage.setItem(key, JSON.stringify(s));
    }""")
    page.reload()
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
    assert stored_session(page)["sid"] != old  # 403 on the stored session: a new one was started
    expect(page.locator(".ilpo-msg[data-id]")).to_have_count(0)
    ask_ai(page, "Сколько стоит аренда?")
    assert_matches_server(live_server, page)


def test_an_expired_session_is_replaced_gracefully(live_server: LiveServer, page: Page) -> None:
    import datetime as dt

    from models import VisitorSession, utcnow

    page.goto(live_server.base_url + "/")
    open_chat(page)
    ask_ai(page, "Какие документы нужны?")
    old = stored_session(page)["sid"]
    live_server.call(VisitorSession.update(last_seen_at=utcnow() - dt.timedelta(days=31)).where(
        VisitorSession.session_id == old).aio_execute())
    page.reload()
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
    assert stored_session(page)["sid"] != old  # 401 session_expired: a new session was started
    expect(page.locator(".ilpo-msg[data-id]")).to_have_count(0)
    ask_ai(page, "Сколько стоит аренда?")
    assert_matches_server(live_server, page)


def test_unread_badge_title_flash_and_keyboard(live_server: LiveServer, page: Page) -> None:
    manager_online(live_server)
    page.goto(live_server.base_url + "/")
    title = page.title()
    page.locator("#ilpo-launcher").focus()
    page.keyboard.press("Enter")  # the launcher is a real button
    expect(page.locator(".ilpo-panel")).to_be_visible()
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")
    page.locator(".ilpo-manager-btn").click()
    page.locator(".ilpo-contact-skip").click()
    expect(page.locator(".ilpo-status")).to_have_text("Ищем менеджера…")

    seen = max(assert_matches_server(live_server, page))
    page.keyboard.press("Escape")
    expect(page.locator(".ilpo-panel")).to_be_hidden()
    assert "ilpo-launcher" in shadow_focus(page)
    manager_accepts(live_server)
    manager_says(live_server, "Вы здесь?")
    expect(page.locator(".manager-message[data-id]")).to_have_count(1)  # rendered, behind the closed panel
    unseen = [e for e in server_events(live_server, page) if e["id"] > seen and e["type"] != "user_message"]
    assert len(unseen) >= 2, unseen  # at least "manager joined" and the reply
    badge = page.locator(".ilpo-badge")
    expect(badge).to_have_text(str(len(unseen)))
    page.wait_for_function("t => document.title !== t", arg=title)
    shot(page, "12-unread-badge")

    page.locator("#ilpo-launcher").click()
    expect(badge).to_be_hidden()
    page.wait_for_function("t => document.title === t", arg=title)
    expect(page.locator(".manager-message[data-id]")).to_have_count(1)


class SlowConsultant:
    """The real AI consultant, thinking a while and then typing its answer in pieces, so the widget's
    typing indicator and streamed draft can be seen. Everything else is delegated."""

    def __init__(self, inner: Any, think: float, piece: float = 0.0) -> None:
        self.inner, self.think, self.piece = inner, think, piece

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def answer(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(self.think)
        return await self.inner.answer(*args, **kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        return _SlowStream(self.inner.stream(*args, **kwargs), self.think, self.piece)


class _SlowStream:
    def __init__(self, inner: Any, think: float, piece: float) -> None:
        self.inner, self.think, self.piece = inner, think, piece
        self.buffer: list[str] = []

    @property
    def result(self) -> Any:
        return getattr(self.inner, "result", None)

    def __aiter__(self) -> _SlowStream:
        return self

    async def __anext__(self) -> str:
        await asyncio.sleep(self.think)
        self.think = self.piece
        if not self.buffer:
            text = await self.inner.__anext__()
            self.buffer = re.findall(r"\S+\s*", text) if self.piece else [text]
        return self.buffer.pop(0)


def test_typing_indicator_and_new_messages_pill(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.base_url + "/")
    open_chat(page)
    for question in ("Какие документы нужны?", "Сколько можно заработать?", "Какие условия аренды?"):
        ask_ai(page, question)
    log = page.locator(".ilpo-messages")
    assert log.evaluate("el => el.scrollHeight > el.clientHeight + 200"), "enough history to scroll"
    assert log.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight < 5"), "follows the conversation"

    live_server.service.assistant.consultant = SlowConsultant(live_server.service.assistant.consultant, think=2.0)
    ask(page, "Какая комиссия парка?")
    typing = page.locator(".ilpo-typing")
    expect(typing).to_be_visible()
    shot(page, "15-typing")
    log.evaluate("el => { el.scrollTop = 0; }")  # the visitor scrolls up to re-read
    expect(page.locator(".ai-message[data-id]")).to_have_count(4)
    expect(typing).to_be_hidden()
    pill = page.locator(".ilpo-pill")
    expect(pill).to_be_visible()  # not yanked down: told instead
    assert log.evaluate("el => el.scrollTop") < 50
    shot(page, "16-new-messages-pill")
    pill.click()
    expect(pill).to_be_hidden()
    assert log.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight < 5")

    # A streaming backend: the answer grows in a draft bubble, then the stored message takes its place.
    assistant = live_server.service.assistant
    assistant.stream = True
    assistant.consultant = SlowConsultant(assistant.consultant.inner, think=0.5, piece=0.15)
    ask(page, "Как часто выплаты?")
    draft = page.locator(".ai-message.ilpo-draft")
    expect(draft).to_be_visible()
    expect(draft).to_contain_text("Выплаты")
    shot(page, "17-streamed-draft")
    expect(page.locator(".ai-message[data-id]")).to_have_count(5)
    expect(draft).to_have_count(0)
    expect(page.locator(".ai-message[data-id]").last).to_contain_text("ежедневно")
    assert_matches_server(live_server, page)


@pytest.fixture
def embedder(live_server: LiveServer) -> Iterator[str]:
    """Another site (another origin) that embeds the widget with every option and hostile CSS."""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Another site</title><style>
        * {{ color: red !important; font: 40px/3 serif !important; letter-spacing: 5px !important; }}
        div {{ display: none !important; }}
        button {{ background: red !important; border-radius: 0 !important; }}
    </style></head><body><h1>Fleet</h1>
    <script src="{live_server.base_url}/widget.js" data-title="Fleet chat" data-accent="#1d4ed8"
        data-position="left" data-locale="en" data-ask-contact="false"
        data-greeting="Hi! Ask me anything." defer></script></body></html>""".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # "localhost" vs the product's "127.0.0.1", another port: a different origin on the loopback.
        yield f"http://localhost:{server.server_address[1]}/drivers"
    finally:
        server.shutdown()
        server.server_close()


def test_embedded_on_another_site_with_options_and_hostile_css(
    live_server: LiveServer, page: Page, embedder: str
) -> None:
    manager_online(live_server)
    page.goto(embedder)
    assert not live_server.base_url.startswith(embedder.split("/drivers")[0])

    launcher = page.locator("#ilpo-launcher")
    expect(launcher).to_be_visible()
    style = computed(page, "#ilpo-launcher", "backgroundColor", "borderTopLeftRadius")
    assert rgb(style["backgroundColor"]) == (29, 78, 216), style  # data-accent, not the page's red
    box = launcher.bounding_box()
    assert box and box["x"] < 100  # data-position="left"
    launcher.click()
    expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")  # cross-origin API + WS
    expect(page.locator(".ilpo-title")).to_have_text("Fleet chat")
    expect(page.locator(".ilpo-greeting")).to_have_text("Hi! Ask me anything.")
    greeting = computed(page, ".ilpo-greeting", "fontSize", "color", "letterSpacing")
    assert greeting["fontSize"] == "15px" and rgb(greeting["color"]) != (255, 0, 0), greeting
    header = computed(page, ".ilpo-head", "color")
    assert rgb(header["color"]) == (255, 255, 255)  # white text on a dark accent
    expect(page.locator(".ilpo-manager-btn")).to_have_text("👤 Contact a live manager")
    ask_ai(page, "How do I connect?")
    page.locator(".ilpo-manager-btn").click()  # data-ask-contact="false": no form
    expect(page.locator(".ilpo-contact-form")).to_be_hidden()
    expect(page.locator(".ilpo-status")).to_have_text("Looking for a manager…")
    shot(page, "13-embedded-hostile-css")


def test_full_screen_on_phones(live_server: LiveServer, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    context.set_default_timeout(WAIT)
    try:
        page = context.new_page()
        page.goto(live_server.base_url + "/")
        page.locator("#ilpo-launcher").click()
        panel = page.locator(".ilpo-panel")
        expect(panel).to_have_attribute("data-transport", "ws")
        box = panel.bounding_box()
        assert box == {"x": 0, "y": 0, "width": 375, "height": 740}, box
        page.locator(".ilpo-close").click()
        expect(panel).to_be_hidden()
        expect(page.locator("#ilpo-launcher")).to_be_visible()
        page.locator("#ilpo-launcher").click()
        ask_ai(page, "Нужна ли лицензия?")
        shot(page, "14-phone")
    finally:
        context.close()


@pytest.fixture
def closed_server(clean_database: str) -> Iterator[LiveServer]:
    """The product outside working hours: managers work a two-hour window that starts in two hours."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    now = dt.datetime.now(ZoneInfo("Europe/Moscow"))
    start, end = now + dt.timedelta(hours=2), now + dt.timedelta(hours=4)
    server = LiveServer(clean_database, WORKING_HOURS=f"{start:%H}:00-{end:%H}:00")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_after_hours_the_widget_says_when_managers_are_back_and_takes_a_request(
    closed_server: LiveServer, page: Page
) -> None:
    from tests.clients import ADMIN

    closed_server.fake.register_user(ADMIN)
    page.goto(closed_server.base_url + "/")
    open_chat(page)
    expect(page.locator(".ilpo-status")).to_contain_text("Менеджеры вернутся")
    button = page.locator(".ilpo-manager-btn")
    expect(button).to_have_text("📝 Оставить заявку менеджеру")
    button.click()
    expect(page.locator(".ilpo-contact-form")).to_contain_text("менеджеров нет на связи")
    page.locator("input[name=name]").fill("Вечерний Гость")
    page.locator("input[name=phone]").fill("+7 900 111-22-33")
    page.locator(".ilpo-contact-submit").click()
    expect(page.locator(".system-message[data-id]").last).to_contain_text("вернутся")
    expect(page.locator(".system-message[data-id]").last).to_contain_text("(МСК)")
    shot(page, "19-after-hours-request")
    lead = closed_server.call(closed_server.fake.wait_for_message(
        ADMIN.id, lambda m: "нерабочее время" in (m.text or "")))
    assert "Вечерний Гость" in lead.text and "+7 900 111-22-33" in lead.text


def test_photos_and_documents_both_ways(live_server: LiveServer, page: Page, tmp_path: Path) -> None:
    png = tmp_path / "права.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    pdf = b"%PDF-1.4\n%%EOF\n"
    manager_online(live_server)
    page.goto(live_server.base_url + "/")
    open_chat(page)
    page.locator(".ilpo-manager-btn").click()
    page.locator(".ilpo-contact-skip").click()
    manager_accepts(live_server)
    expect(page.locator(".ilpo-status")).to_contain_text(MANAGER_NAME)

    page.locator(".ilpo-file-input").set_input_files(str(png))
    sent = page.locator(".user-message[data-id]").last
    expect(sent.locator(".ilpo-file img")).to_have_attribute("alt", "права.png")
    expect(sent.locator(".ilpo-text")).to_have_count(0)  # no caption: the file speaks for itself
    photo = live_server.call(live_server.fake.wait_for_message(MANAGER.id, lambda m: m.photo is not None))
    assert photo.photo.data == png.read_bytes()

    live_server.call(live_server.fake.send_document(MANAGER, "Договор.pdf", pdf, content_type="application/pdf"))
    received = page.locator(".manager-message[data-id]").last
    expect(received.locator(".ilpo-file")).to_have_text("📎 Договор.pdf")
    href = received.locator(".ilpo-file").get_attribute("href")
    assert href and href.startswith(live_server.base_url + "/api/chat/attachments/")
    with urllib.request.urlopen(href) as response:
        assert response.read() == pdf
    shot(page, "20-files")
