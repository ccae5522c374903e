"""Hostile and broken input gets a clear 4xx JSON error (or an error frame), never a 500, on both databases."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from models import ChatMessage, Sender
from tests.clients import Visitor, raw_request, ws_receive_until
from tests.conftest import start_desk

API_KEY = "integration-key-0123456789"
DEEP = '{"a":' + "[" * 100_000
HUGE_ID = str(2**64 + 5)


async def error_of(response: aiohttp.ClientResponse) -> tuple[int, str]:
    assert response.content_type == "application/json", (response.status, await response.text())
    body = await response.json()
    assert set(body) >= {"error", "message"} and body["message"]
    return response.status, body["error"]


@pytest.fixture
async def product(clean_database: str) -> AsyncIterator[Any]:
    product = await start_desk(clean_database, INTEGRATION_API_KEYS=API_KEY)
    try:
        yield product
    finally:
        await product.stop()
    assert product.fake.violations == []


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_deeply_nested_json_is_400_on_every_json_endpoint(product: Any, http: aiohttp.ClientSession) -> None:
    base = product.base_url
    visitor = await Visitor(http, base).start()
    headers = {**visitor.auth, "Content-Type": "application/json"}
    for path in ("/api/chat/start", "/api/chat/send-message", "/api/chat/transfer-to-manager", "/api/chat/rate"):
        async with http.post(base + path, data=DEEP, headers=headers) as response:
            assert await error_of(response) == (400, "invalid_json"), path
    async with http.post(f"{base}/api/v1/chats/1/assign", data=DEEP,
                         headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        assert await error_of(response) == (400, "invalid_json")


@pytest.mark.parametrize("bad", ["\ud800", "a\x00b"], ids=["lone-surrogate", "nul"])
async def test_unstorable_text_is_refused_the_same_on_both_databases(
    product: Any, http: aiohttp.ClientSession, bad: str
) -> None:
    base = product.base_url
    for field, value in (("name", f"Ив{bad}ан"), ("phone", f"+7900{bad}0000000"), ("page_url", f"https://x/{bad}")):
        body = json.dumps({field: value})  # json.dumps writes a lone surrogate as \\ud800, as an attacker would
        async with http.post(f"{base}/api/chat/start", data=body,
                             headers={"Content-Type": "application/json"}) as response:
            assert await error_of(response) == (400, "invalid_field"), field
    visitor = await Visitor(http, base).start()
    body = json.dumps({"session_id": visitor.session_id, "text": f"привет {bad}"})
    async with http.post(f"{base}/api/chat/send-message", data=body,
                         headers={**visitor.auth, "Content-Type": "application/json"}) as response:
        assert await error_of(response) == (400, "invalid_field")
    form = aiohttp.FormData()
    form.add_field("caption", f"скан {bad}".encode("utf-8", "surrogatepass"), content_type="text/plain")
    form.add_field("file", b"%PDF-1.4 test", filename="a.pdf", content_type="application/pdf")
    async with http.post(f"{base}/api/chat/upload", data=form, params={"session_id": visitor.session_id},
                         headers=visitor.auth) as response:
        assert (await error_of(response))[0] == 400
    assert await ChatMessage.select().aio_count() == 0


async def test_non_ascii_tokens_and_keys_are_401(product: Any, http: aiohttp.ClientSession) -> None:
    visitor = await Visitor(http, product.base_url).start()
    host = f"Host: {urlsplit(product.base_url).netloc}".encode()
    for path in (f"/api/chat/state?session_id={visitor.session_id}", "/api/v1/chats"):
        head = b"GET " + path.encode() + b" HTTP/1.1\r\n" + host + b"\r\nAuthorization: Bearer \xd1\x82\xff\xfe\r\n"
        status, body = await raw_request(product.base_url, head + b"Connection: close\r\n")
        assert status == 401, (path, body)
        assert json.loads(body)["error"] == "invalid_token"


async def test_ids_beyond_64_bits_are_refused(product: Any, http: aiohttp.ClientSession) -> None:
    base = product.base_url
    visitor = await Visitor(http, base).start()
    key = {"Authorization": f"Bearer {API_KEY}"}
    async with http.get(f"{base}/api/chat/attachments/{HUGE_ID}", params={"session_id": visitor.session_id},
                        headers=visitor.auth) as response:
        assert await error_of(response) == (404, "file_not_found")
    async with http.post(f"{base}/api/chat/rate", headers=visitor.auth, data=(
            f'{{"session_id": "{visitor.session_id}", "support_chat_id": {HUGE_ID}, "rating": 5}}')) as response:
        assert await error_of(response) == (400, "invalid_field")
    async with http.get(f"{base}/api/v1/chats/{HUGE_ID}", headers=key) as response:
        assert await error_of(response) == (400, "invalid_field")
    async with http.get(f"{base}/api/v1/chats", params={"before": HUGE_ID}, headers=key) as response:
        assert await error_of(response) == (400, "invalid_field")
    async with http.get(f"{base}/api/chat/events", headers=visitor.auth,
                        params={"session_id": visitor.session_id, "after": HUGE_ID, "timeout": "0"}) as response:
        assert await error_of(response) == (400, "invalid_field")


async def test_out_of_range_dates_and_non_integers_are_refused_not_truncated(
    product: Any, http: aiohttp.ClientSession
) -> None:
    base = product.base_url
    visitor = await Visitor(http, base).start()
    key = {"Authorization": f"Bearer {API_KEY}"}
    for params in ({"since": "0001-01-01T00:00:00+05:00"}, {"since": "9999-12-31T23:59:59-05:00"},
                   {"limit": "1.5"}, {"limit": "1e999"}, {"before": "1.5"}):
        async with http.get(f"{base}/api/v1/chats", params=params, headers=key) as response:
            assert await error_of(response) == (400, "invalid_field"), params
    for after in ("1.5", "1e999", "nan"):
        async with http.get(f"{base}/api/chat/events", headers=visitor.auth,
                            params={"session_id": visitor.session_id, "after": after, "timeout": "0"}) as response:
            assert await error_of(response) == (400, "invalid_field"), after
    for value in ("1.5", "1e999", '"42"', "true"):
        async with http.post(f"{base}/api/v1/chats/1/assign", data=f'{{"manager_telegram_id": {value}}}',
                             headers=key) as response:
            assert await error_of(response) == (400, "invalid_field"), value
    for value in ("1.5", "1e999"):
        async with http.post(f"{base}/api/chat/rate", headers=visitor.auth, data=(
                f'{{"session_id": "{visitor.session_id}", "support_chat_id": {value}, "rating": 5}}')) as response:
            assert await error_of(response) == (400, "invalid_field"), value


async def test_broken_multipart_is_400(product: Any, http: aiohttp.ClientSession) -> None:
    visitor = await Visitor(http, product.base_url).start()
    url = f"{product.base_url}/api/chat/upload?session_id={visitor.session_id}"
    async with http.post(url, data=b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
                         headers={**visitor.auth, "Content-Type": "multipart/form-data"}) as response:
        assert await error_of(response) == (400, "invalid_body")
    cut = b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.4 cut off'
    async with http.post(url, data=cut, headers={**visitor.auth,
                                                 "Content-Type": "multipart/form-data; boundary=XYZ"}) as response:
        assert await error_of(response) == (400, "invalid_body")
    assert await ChatMessage.select().aio_count() == 0


async def test_hostile_frames_over_the_websocket_get_error_frames_and_the_socket_stays_open(
    product: Any, http: aiohttp.ClientSession
) -> None:
    visitor = await Visitor(http, product.base_url).start()
    async with http.ws_connect(await visitor.ws_url()) as ws:
        # As deep as a frame within the socket's 64 KB message cap can be (a bigger frame closes it by protocol).
        frames = ['{"a":' + "[" * 60_000,
                  json.dumps({"type": "user_message", "text": "a\x00b", "client_message_id": "m1"}),
                  json.dumps({"type": "user_message", "text": "\ud800", "client_message_id": "m2"}),
                  json.dumps({"type": "user_message", "text": "x", "client_message_id": 10**30})]
        for frame in frames:
            await ws.send_str(frame)
            (error,) = await ws_receive_until(ws, lambda f: f.get("type") == "error")
            assert error["error"] in ("invalid_json", "invalid_field") and error["message"]
            await ws.send_json({"type": "ping"})
            await ws_receive_until(ws, lambda f: f.get("type") == "pong")
        await ws.send_json({"type": "user_message", "text": "всё хорошо", "client_message_id": "ok"})
        await ws_receive_until(ws, lambda f: f.get("type") == "ack")
    assert [m.text for m in await ChatMessage.select().where(ChatMessage.sender == Sender.USER).aio_execute()] == [
        "всё хорошо"]


async def test_a_client_leaving_mid_request_is_logged_at_debug_not_as_an_error(
    product: Any, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    visitor = await Visitor(http, product.base_url).start()
    caplog.set_level(logging.DEBUG, logger="webhook.http_api")
    host = urlsplit(product.base_url).netloc.encode()
    head = (b"POST /api/chat/upload?session_id=" + visitor.session_id.encode() + b" HTTP/1.1\r\nHost: " + host
            + b"\r\nAuthorization: Bearer " + visitor.token.encode()
            + b"\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 500000\r\n")
    await raw_request(product.base_url, head, b'--XYZ\r\nContent-Disposition: form-data; name="file"; '
                      b'filename="a.pdf"\r\n\r\n%PDF-1.4 ' + b"x" * 1000, close_early=True)
    for _ in range(100):
        if any("went away" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any(r.levelno == logging.DEBUG and "went away" in r.getMessage() for r in caplog.records)
    async with http.get(f"{product.base_url}/healthz") as response:
        assert response.status == 200
