"""Property: whatever bytes arrive at any HTTP route, the answer is never a 5xx and the server stays healthy."""

from __future__ import annotations

import json
import re
import socket
from urllib.parse import quote, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LiveServer

# The fake Bot API is the tests' instrument, not the product: its own checks answer as Telegram would.
NOT_PRODUCT = ("/telegram-sandbox",)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["session_id", "text", "token", "after", "timeout", "since", "limit", "before", "status", "rating",
          "support_chat_id", "client_message_id", "name", "phone", "page_url", "manager_telegram_id", "caption"]


def _send(base_url: str, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n".encode()
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        head += f"Content-Length: {len(body)}\r\n\r\n".encode()
        sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line = data.split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_no_route_answers_5xx_to_generated_input(live_server: LiveServer) -> None:
    base = live_server.base_url
    start = json.dumps({}).encode()
    status = _send(base, "POST", "/api/chat/start", [(b"Content-Type", b"application/json")], start)
    assert status == 201
    routes: list[tuple[str, str]] = sorted({
        (route.method, route.resource.canonical)
        for route in live_server.product.runner.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
        and not route.resource.canonical.startswith(NOT_PRODUCT)
    })
    assert any(path == "/api/chat/send-message" for _, path in routes)

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(
        route=st.sampled_from(routes),
        path_value=st.text(max_size=30) | st.integers(min_value=-(2**80), max_value=2**80).map(str),
        query=st.lists(st.tuples(st.sampled_from(FIELDS) | st.text(max_size=8), st.text(max_size=30)), max_size=5),
        authorization=st.none() | st.binary(max_size=40).map(lambda raw: b"Bearer " + raw.replace(b"\r", b"")
                                                             .replace(b"\n", b"")),
        content_type=st.sampled_from([b"application/json", b"multipart/form-data", b"multipart/form-data; boundary=x",
                                      b"text/plain", b"application/x-www-form-urlencoded", b"application/json; "
                                      b"charset=klingon"]),
        body=st.one_of(json_values.map(lambda value: json.dumps(value).encode()),
                       st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5)
                       .map(lambda value: json.dumps(value).encode()),
                       st.binary(max_size=200)),
    )
    def one_request(route: tuple[str, str], path_value: str, query: list[tuple[str, str]], authorization: bytes | None,
                    content_type: bytes, body: bytes) -> None:
        method, path = route
        path = re.sub(r"\{[^}]+\}", quote(path_value, safe="") or "x", path)
        target = path + ("?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query) if query else "")
        headers = [(b"Content-Type", content_type)]
        if authorization is not None:
            headers.append((b"Authorization", authorization))
        status = _send(base, method, target, headers, body if method != "GET" else b"")
        assert status < 500, (method, target, authorization, body[:100])

    one_request()
    assert _send(base, "GET", "/healthz", [], b"") == 200
