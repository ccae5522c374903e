"""Property: whatever bytes arrive at any HTTP route, the answer is never a 5xx and the server stays healthy."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LiveServer

API_KEY = "fuzz-integration-key-0123456789"

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


@pytest.fixture
def server(clean_database: str) -> Iterator[LiveServer]:
    server = LiveServer(clean_database, INTEGRATION_API_KEYS=API_KEY)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _start_session(base_url: str) -> tuple[str, str]:
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"POST /api/chat/start HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return body["session_id"], body["token"]


def test_no_route_answers_5xx_to_generated_input(server: LiveServer) -> None:
    live_server = server
    base = live_server.base_url
    session_id, token = _start_session(base)
    # Real credentials among the generated ones, so requests also get past authentication.
    texts = st.text(max_size=30) | st.just(session_id) | st.integers(min_value=0, max_value=2**70).map(str)
    bearer = (st.binary(max_size=40) | st.sampled_from([token.encode(), API_KEY.encode()])
              | st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogateescape")))
    routes: list[tuple[str, str]] = sorted({
        (route.method, route.resource.canonical)
        for route in live_server.product.runner.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
        and not route.resource.canonical.startswith(NOT_PRODUCT)
    })
    assert any(path == "/api/chat/send-message" for _, path in routes)

    @settings(max_examples=250, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(
        route=st.sampled_from(routes),
        path_value=texts,
        query=st.lists(st.tuples(st.sampled_from(FIELDS) | st.text(max_size=8), texts), max_size=5),
        authorization=st.none() | bearer.map(lambda raw: b"Bearer " + raw.replace(b"\r", b"").replace(b"\n", b"")),
        content_type=st.sampled_from([b"application/json", b"multipart/form-data", b"multipart/form-data; boundary=x",
                                      b"text/plain", b"application/x-www-form-urlencoded", b"application/json; "
                                      b"charset=klingon"]),
        body=st.one_of(json_values.map(lambda value: json.dumps(value).encode()),
                       st.dictionaries(st.sampled_from(FIELDS), json_values | texts, max_size=5)
                       .map(lambda value: json.dumps({"session_id": session_id, **value}).encode()),
                       st.integers(min_value=1000, max_value=50_000).map(lambda depth: b'{"a":' + b"[" * depth),
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
