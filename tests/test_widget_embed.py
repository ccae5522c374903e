"""The snippet a fleet pastes into its site (README, "Embedding the widget"), in a real Chromium.

The embedding page is plain HTML on another origin ("localhost" and a port of its own, against the product's
"127.0.0.1"). Each data- option must visibly take effect: the colour (computed style), the side of the screen,
the title, the greeting bubble, the locale's texts, and the server URL (the site hosts its own copy of widget.js,
so only data-api can lead the widget to the product). Desktop and a 390×844 phone.
"""

from __future__ import annotations

import gzip
import html
import re
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer
from widget.pages import minify_css, minify_js

pytestmark = pytest.mark.browser
WAIT = 10_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


class Site:
    """Somebody else's website: one page, and optionally the widget's script hosted beside it."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                content_type, body = files.get(self.path, ("text/plain", b"not found"))
                self.send_response(200 if self.path in files else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # "localhost" where the product is "127.0.0.1", and another port: a different origin on the loopback.
        self.origin = f"http://localhost:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def page(self, snippet: str) -> str:
        body = ("<!doctype html><html><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Fleet</title></head>"
                f"<body><h1>Drive with us</h1>{snippet}</body></html>")
        self.files["/drivers"] = ("text/html; charset=utf-8", body.encode())
        return f"{self.origin}/drivers"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    site = Site()
    try:
        yield site
    finally:
        site.close()


def snippet(src: str, **options: str) -> str:
    """The README's tag: `<script src=".../widget.js" data-…>`, one data- attribute per option."""
    attrs = "".join(f' data-{name.replace("_", "-")}="{html.escape(value)}"' for name, value in options.items())
    return f'<script src="{html.escape(src)}"{attrs} defer></script>'


def open_page(browser: Browser, url: str, viewport: dict[str, int], locale: str) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=viewport, locale=locale, is_mobile=viewport == PHONE,
                                  has_touch=viewport == PHONE)
    context.set_default_timeout(WAIT)
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda socket: requests.append(socket.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.errors = errors  # type: ignore[attr-defined]
    return page, requests


def computed(page: Page, selector: str, prop: str) -> str:
    return str(page.locator(selector).first.evaluate("(el, p) => getComputedStyle(el)[p]", prop))


def rgb(value: str) -> tuple[int, ...]:
    return tuple(int(float(n)) for n in re.findall(r"[\d.]+", value)[:3])


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_option_of_the_snippet_takes_effect(
    live_server: LiveServer, browser: Browser, site: Site, viewport: dict[str, int]
) -> None:
    with urllib.request.urlopen(f"{live_server.base_url}/widget.js", timeout=10) as response:
        site.files["/assets/widget.js"] = ("text/javascript", response.read())  # the fleet hosts its own copy
    url = site.page(snippet("/assets/widget.js", api=live_server.base_url + "/", accent="#0f766e", position="left",
                            title="Fleet chat", greeting="Hi! Ask me anything.", locale="en"))
    page, requests = open_page(browser, url, viewport, locale="ru-RU")  # data-locale beats the browser's language
    try:
        launcher = page.locator("#ilpo-launcher")
        expect(launcher).to_be_visible()
        assert rgb(computed(page, "#ilpo-launcher", "backgroundColor")) == (15, 118, 110)  # data-accent
        box = launcher.bounding_box()
        assert box and box["x"] < 40 and box["x"] + box["width"] < viewport["width"] / 2, box  # data-position
        launcher.click()
        panel = page.locator(".ilpo-panel")
        expect(panel).to_have_attribute("data-transport", "ws")  # a live WebSocket to the product, via data-api
        assert rgb(computed(page, ".ilpo-head", "backgroundColor")) == (15, 118, 110)
        expect(page.locator(".ilpo-title")).to_have_text("Fleet chat")  # data-title
        expect(page.locator(".ilpo-greeting")).to_have_text("Hi! Ask me anything.")  # data-greeting
        expect(page.locator(".ilpo-root")).to_have_attribute("lang", "en")  # data-locale
        # Nobody is online in this desk, so the English widget offers the request form instead of a live chat.
        expect(page.locator(".ilpo-manager-btn")).to_have_text("📝 Leave a request for a manager")
        expect(page.locator(".ilpo-compose textarea, .ilpo-compose input[type=text]").first).to_have_attribute(
            "placeholder", "Type a message…")
        panel_box = panel.bounding_box()
        if viewport == PHONE:
            assert panel_box == {"x": 0, "y": 0, **viewport}, panel_box  # full screen on a phone
        else:
            assert panel_box and panel_box["x"] < 40, panel_box  # the panel opens on the left too
        page.locator(".ilpo-compose textarea, .ilpo-compose input[type=text]").first.fill("How do I connect?")
        page.keyboard.press("Enter")
        expect(page.locator(".ai-message[data-id]")).to_have_count(1)  # the product's AI answered
        product = live_server.base_url
        assert f"{product}/api/chat/start" in requests, requests
        assert f"{product}/widget.css" in requests, requests  # the stylesheet comes from the server too
        assert any(r.startswith(product.replace("http", "ws", 1) + "/api/chat/ws") for r in requests), requests
        strays = [r for r in requests if r.startswith(site.origin) and not r.endswith(("/drivers", "/widget.js"))]
        assert strays == [], strays  # nothing went to the embedding site's own origin
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


def test_without_options_the_widget_uses_its_defaults(live_server: LiveServer, browser: Browser, site: Site) -> None:
    url = site.page(snippet(f"{live_server.base_url}/widget.js"))
    page, requests = open_page(browser, url, DESKTOP, locale="ru-RU")
    try:
        launcher = page.locator("#ilpo-launcher")
        expect(launcher).to_be_visible()
        assert rgb(computed(page, "#ilpo-launcher", "backgroundColor")) == (255, 196, 0)  # the fleet's yellow
        box = launcher.bounding_box()
        assert box and box["x"] > DESKTOP["width"] - 120, box  # bottom right
        launcher.click()
        expect(page.locator(".ilpo-panel")).to_have_attribute("data-transport", "ws")  # the script's own origin
        expect(page.locator(".ilpo-title")).to_have_text("ILPO-TAXI")
        expect(page.locator(".ilpo-root")).to_have_attribute("lang", "ru")  # the browser's language
        expect(page.locator(".ilpo-manager-btn")).to_have_text("📝 Оставить заявку менеджеру")  # nobody online
        expect(page.locator(".ilpo-greeting")).to_contain_text("ИИ-консультант")
        assert f"{live_server.base_url}/api/chat/start" in requests, requests  # the API is where the script is
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


def test_the_widget_is_served_minified_and_compressed(live_server: LiveServer) -> None:
    from widget.pages import source_text

    for name, minify in (("widget.js", minify_js), ("widget.css", minify_css)):
        request = urllib.request.Request(f"{live_server.base_url}/{name}", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            body = gzip.decompress(response.read()).decode()
        source = source_text(name)  # widget.js: its parts in widget/script/, joined
        assert body == minify(source) and len(body) < len(source)
    js = minify_js("/*! banner */\nvar a = 1; // note\n\n    // a comment line\n  /* a block */\n"
                   "  if (a) {\n    b();\n  }\n")
    assert js == "/*! banner */var a=1;if(a){b();}\n"
    # strings and regular expressions are kept as written
    assert minify_js("var s = 'a  // b', r = /x\\/\\/ y/;") == "var s='a  // b',r=/x\\/\\/ y/;\n"
    css = minify_css("/* c */\n.a :hover, .b > .c {\n  color: red;\n  margin: 0 auto;\n}\n")
    assert css == ".a :hover,.b>.c{color:red;margin:0 auto}"
