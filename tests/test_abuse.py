"""One visitor cannot slow everyone: connection caps, one read per session, uploads refused before their body,
and X-Forwarded-For believed only from trusted proxies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.clients import Visitor, ws_receive_until
from tests.conftest import Desk, start_desk

PDF = b"%PDF-1.4\n" + b"0" * 2000


@pytest.fixture
async def capped(clean_database: str) -> AsyncIterator[Desk]:
    product = await start_desk(clean_database, CONNECTIONS_PER_SESSION="3", CONNECTIONS_PER_ADDRESS="5")
    async with aiohttp.ClientSession() as http:
        try:
            yield Desk(product=product, base_url=product.base_url, http=http)
        finally:
            await product.stop()


async def _refused_socket(visitor: Visitor) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await visitor.http.ws_connect(await visitor.ws_url())
    return refused.value.status


async def test_sockets_and_long_polls_are_capped_per_session_and_per_address(capped: Desk) -> None:
    visitor = await Visitor(capped.http, capped.base_url).start()
    sockets = [await capped.http.ws_connect(await visitor.ws_url()) for _ in range(3)]
    assert await _refused_socket(visitor) == 429
    async with capped.http.get(f"{capped.base_url}/api/chat/events", headers=visitor.auth, params={
            "session_id": visitor.session_id, "after": "0", "timeout": "1"}) as response:
        assert response.status == 429 and (await response.json())["error"] == "too_many_connections"
    other = await Visitor(capped.http, capped.base_url).start()
    sockets += [await capped.http.ws_connect(await other.ws_url()) for _ in range(2)]
    assert await _refused_socket(other) == 429  # the address holds 5 now
    await sockets.pop().close()
    await asyncio.sleep(0.2)
    sockets.append(await capped.http.ws_connect(await other.ws_url()))  # a closed socket frees its place
    for ws in sockets:
        await ws.close()


async def test_one_new_event_is_read_once_for_all_of_a_sessions_sockets(capped: Desk) -> None:
    visitor = await Visitor(capped.http, capped.base_url).start()
    sockets = [await capped.http.ws_connect(await visitor.ws_url()) for _ in range(3)]
    await asyncio.sleep(0.3)  # each socket's own replay on connect is done
    visitors = capped.service.visitors
    reads: list[int] = []
    original = visitors.events_after

    async def counting(session: Any, after: int, limit: int = 200) -> list[dict[str, Any]]:
        reads.append(after)
        return await original(session, after, limit=limit)

    visitors.events_after = counting
    try:
        sent = await visitor.send("один раз")
        for ws in sockets:
            await ws_receive_until(ws, lambda f, i=sent["id"]: f.get("id") == i)
    finally:
        visitors.events_after = original
    # The AI's answer may wake the sockets once more; what matters is one read per wake-up, not one per socket.
    assert len(reads) == len(set(reads)), reads
    for ws in sockets:
        await ws.close()


async def _head_only(base_url: str, path: str, headers: bytes, length: int = 10 * 1024 * 1024) -> tuple[int, bytes]:
    """Send the request line and headers of a big upload but none of its body: only an early answer returns."""
    host = urlsplit(base_url).netloc.encode()
    head = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: " + str(length).encode()
            + b"\r\n" + headers + b"\r\n")
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head)
        async with asyncio.timeout(5):
            answer = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in answer.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            body = await reader.readexactly(length)
    finally:
        writer.close()
    return int(answer.split()[1]), body


async def test_uploads_are_refused_before_their_body_is_read(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()
    path = f"/api/chat/upload?session_id={visitor.session_id}"
    status, _ = await _head_only(desk.base_url, path, b"Authorization: Bearer wrong-token\r\n")
    assert status == 403
    status, _ = await _head_only(desk.base_url, path, b"")
    assert status == 401
    # With the right token, a declared size beyond the cap is refused before a byte of it is read.
    status, body = await _head_only(desk.base_url, path, b"Authorization: Bearer " + visitor.token.encode() + b"\r\n",
                                    length=20 * 1024 * 1024)
    assert status == 413 and b"file_too_large" in body


async def test_identical_uploads_at_once_all_succeed(desk: Desk) -> None:
    visitor = await Visitor(desk.http, desk.base_url).start()

    async def upload() -> int:
        form = aiohttp.FormData()
        form.add_field("file", PDF, filename="same.pdf", content_type="application/pdf")
        async with desk.http.post(f"{desk.base_url}/api/chat/upload", data=form, headers=visitor.auth,
                                  params={"session_id": visitor.session_id}) as response:
            return response.status

    assert await asyncio.gather(*(upload() for _ in range(12))) == [200] * 12


async def _hold_poll(http: aiohttp.ClientSession, base: str, visitor: Visitor, forwarded: str) -> int:
    async with http.get(f"{base}/api/chat/events", headers={**visitor.auth, "X-Forwarded-For": forwarded},
                        params={"session_id": visitor.session_id, "after": "0", "timeout": "1.5"}) as response:
        return response.status


@pytest.mark.parametrize("trusted", [True, False], ids=["behind-trusted-proxy", "no-trusted-proxy"])
async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(clean_database: str, trusted: bool) -> None:
    env = {"CONNECTIONS_PER_ADDRESS": "1", **({"TRUSTED_PROXIES": "127.0.0.0/8"} if trusted else {})}
    product = await start_desk(clean_database, **env)
    try:
        async with aiohttp.ClientSession() as http:
            first = await Visitor(http, product.base_url).start()
            second = await Visitor(http, product.base_url).start()
            # Two visitors behind the proxy, then the same visitor twice, each holding a long-poll.
            statuses = await asyncio.gather(
                _hold_poll(http, product.base_url, first, "203.0.113.7"),
                _hold_poll(http, product.base_url, second, "198.51.100.9, 127.0.0.5"),
            )
            assert sorted(statuses) == ([200, 200] if trusted else [200, 429])
            statuses = await asyncio.gather(
                _hold_poll(http, product.base_url, first, "203.0.113.7"),
                _hold_poll(http, product.base_url, second, "203.0.113.7"),
            )
            assert sorted(statuses) == [200, 429]
    finally:
        await product.stop()
