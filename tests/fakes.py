"""Stand-ins for the outside services the desk talks to: an OpenAI-compatible model server and an SMTP inbox."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import socket
from email.message import EmailMessage
from typing import Any

from aiohttp import web

PIECES = ["Аренда ", "эконом-класса ", "стоит от **1 900 ₽** ", "в сутки."]


class FakeOpenAI:
    """Chat Completions look-alike; `mode` picks how it answers the next requests."""

    def __init__(self) -> None:
        self.mode = "stream"
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.first_piece_taken = asyncio.Event()  # the test sets it once it holds the first piece
        self.shutdown = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        return app

    async def hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.shutdown.wait(), 10)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.mode == "500":
            return web.json_response({"error": {"message": "overloaded"}}, status=500)
        if self.mode == "slow":
            await self.hang()
            return web.json_response({})
        if not body.get("stream"):
            content = "Хочет арендовать машину эконом-класса.\nСпрашивает про залог.\nЛишняя строка."
            return web.json_response({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
        if self.mode == "json":
            return web.json_response({"choices": [{"message": {"role": "assistant", "content": "Целиком."}}]})

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(data: str) -> None:
            await response.write(f"data: {data}\n\n".encode())

        def chunk(content: str) -> str:
            return json.dumps({"choices": [{"index": 0, "delta": {"content": content}}]}, ensure_ascii=False)

        with contextlib.suppress(ConnectionResetError):
            await send(json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
            await response.write(b": keep-alive comment\n\n")
            if self.mode == "malformed":
                await send("{not json")
                return response
            if self.mode == "no_answer":
                for piece in ("[NO_", "ANSWER] Не знаю, ", "уточните у менеджера."):
                    await send(chunk(piece))
                await send("[DONE]")
                return response
            await send(chunk(PIECES[0]))
            if self.mode == "stream":
                # Holding the rest until the client has the first piece proves nothing is buffered.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.first_piece_taken.wait(), 5)
            await send(chunk(PIECES[1]))
            if self.mode == "stall_midway":
                await self.hang()
                return response
            if self.mode == "malformed_midway":
                await send('{"choices": "nope"}')
                return response
            for piece in PIECES[2:]:
                await send(chunk(piece))
            await send(json.dumps({"choices": [], "usage": {"total_tokens": 42}}))
            await send("[DONE]")
        return response


class Inbox:
    """aiosmtpd handler: every message the desk sends, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, _class=EmailMessage,
                                                      policy=email.policy.default))
        return "250 Message accepted for delivery"

    async def wait(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{len(self.messages)} of {count} emails arrived"
            await asyncio.sleep(0.05)
        return self.messages


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_env(port: int, **extra: str) -> dict[str, str]:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none",
            "SMTP_FROM": "support@ilpo-taxi.test", **extra}


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "both a text and an HTML part"
    return text.get_content(), html.get_content()
