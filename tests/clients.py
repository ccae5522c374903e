"""Test-side clients: a widget visitor speaking the public HTTP/WebSocket API, and Telegram people."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from sandbox.bot_api import FakeUser, SentMessage
from tests.conftest import ADMIN_ID, MANAGER_ID, SECOND_MANAGER_ID, STRANGER_ID, Desk, eventually

MANAGER = FakeUser(id=MANAGER_ID, first_name="Анна", last_name="Смирнова", username="anna_ilpo")
SECOND_MANAGER = FakeUser(id=SECOND_MANAGER_ID, first_name="Борис", username="boris_ilpo")
ADMIN = FakeUser(id=ADMIN_ID, first_name="Админ")
STRANGER = FakeUser(id=STRANGER_ID, first_name="Некто")


@dataclass
class Visitor:
    """A widget client: what the browser does, over the public API."""

    http: aiohttp.ClientSession
    base_url: str
    session_id: str = ""
    token: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def start(self, **body: Any) -> Visitor:
        async with self.http.post(f"{self.base_url}/api/chat/start", json=body) as response:
            assert response.status == 201, await response.text()
            data = await response.json()
        self.session_id, self.token = data["session_id"], data["token"]
        return self

    async def send(self, text: str, **extra: Any) -> dict[str, Any]:
        async with self.http.post(f"{self.base_url}/api/chat/send-message", headers=self.auth,
                                  json={"session_id": self.session_id, "text": text, **extra}) as response:
            assert response.status == 200, await response.text()
            return await response.json()  # type: ignore[no-any-return]

    async def transfer(self, **body: Any) -> dict[str, Any]:
        async with self.http.post(f"{self.base_url}/api/chat/transfer-to-manager", headers=self.auth,
                                  json={"session_id": self.session_id, **body}) as response:
            assert response.status == 200, await response.text()
            return await response.json()  # type: ignore[no-any-return]

    async def state(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base_url}/api/chat/state", headers=self.auth,
                                 params={"session_id": self.session_id}) as response:
            return await response.json()  # type: ignore[no-any-return]

    async def poll(self, after: int | None = None, timeout: float = 0) -> list[dict[str, Any]]:
        after = self.last_id if after is None else after
        async with self.http.get(f"{self.base_url}/api/chat/events", headers=self.auth, params={
            "session_id": self.session_id, "after": str(after), "timeout": str(timeout)}) as response:
            assert response.status == 200, await response.text()
            events = (await response.json())["events"]
        self.seen.extend(events)
        return events  # type: ignore[no-any-return]

    @property
    def last_id(self) -> int:
        return max((event["id"] for event in self.seen), default=0)

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """Long-poll until an event matching `predicate` arrives (events already seen count too)."""
        for event in self.seen:
            if predicate(event):
                return event
        deadline = asyncio.get_running_loop().time() + timeout
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            for event in await self.poll(timeout=min(remaining, 5)):
                if predicate(event):
                    return event
        raise AssertionError(f"no matching event; seen: {[e['type'] + ':' + e['text'][:40] for e in self.seen]}")

    async def ws_url(self, after: int = 0) -> str:
        """The WebSocket URL with a fresh single-use ticket (the token never goes into a URL)."""
        async with self.http.post(f"{self.base_url}/api/chat/ws-ticket", headers=self.auth,
                                  json={"session_id": self.session_id}) as response:
            assert response.status == 200, await response.text()
            ticket = (await response.json())["ticket"]
        return f"{self.base_url}/api/chat/ws?session_id={self.session_id}&ticket={ticket}&after={after}"


async def ws_receive_until(
    ws: aiohttp.ClientWebSocketResponse, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Frames received until (and including) the first matching one."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended: {message.type}")
            frame = json.loads(message.data)
            frames.append(frame)
            if predicate(frame):
                return frames


def is_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("type") == kind


# --- Telegram people acting on the running desk ---------------------------------------------------------


async def say(desk: Desk, user: FakeUser, text: str, **kwargs: object) -> str:
    """The user writes to the bot; returns the text of the bot's answer."""
    await desk.fake.send_message(user, text, **kwargs)
    reply = await desk.fake.wait_for_message(user.id)
    return str(reply.text)


async def go_online(desk: Desk, user: FakeUser) -> None:
    assert "рабочее место менеджера" in await say(desk, user, "/start")
    assert "Смена начата" in await say(desk, user, "/online")


async def offer_to(desk: Desk, user: FakeUser) -> object:
    """The chat offer sent to `user`, in Russian or, for a manager whose Telegram speaks English, in English."""
    return await desk.fake.wait_for_message(user.id, lambda m: bool({"✅ Принять чат", "✅ Take chat"}
                                                                      & set(m.button_texts)))


async def press(desk: Desk, user: FakeUser, message_id: int, button: str) -> dict[str, object]:
    query_id = await desk.fake.press_button(user, message_id, button)
    return await desk.fake.wait_callback_answer(query_id)  # type: ignore[no-any-return]


async def close_chat(desk: Desk, user: FakeUser, message_id: int) -> dict[str, object]:
    """«🔚 Завершить» and then «Да, завершить» on the confirmation it asks; the answer to the second tap."""
    asked = await press(desk, user, message_id, "🔚 Завершить")
    assert asked.get("show_alert") in (None, False), asked
    confirmation = await desk.fake.wait_for_message(user.id, lambda m: "Да, завершить" in m.button_texts)
    return await press(desk, user, confirmation.message_id, "Да, завершить")


async def admin_menu(desk: Desk, user: FakeUser = ADMIN) -> SentMessage:
    await desk.fake.send_message(user, "/admin")
    # An outbox alert (a queued chat) may reach the admin first: the menu is the message with the menu's buttons.
    menu = await desk.fake.wait_for_message(user.id, lambda m: "📊 Статистика" in m.button_texts)
    assert menu.button_texts[:3] == ["👥 Управление менеджерами", "📊 Статистика", "⏳ Очередь"], menu.text
    assert "👋 Приветствия" in menu.button_texts and "📝 Шаблоны ответов" in menu.button_texts, menu.text
    return menu


async def forge(desk: Desk, user: FakeUser, message: SentMessage, callback_data: str) -> dict[str, object]:
    """Press a button the bot never showed: modified clients can send any callback data."""
    message.reply_markup = {"inline_keyboard": [[{"text": "?", "callback_data": callback_data}]]}
    return await press(desk, user, message.message_id, callback_data)


async def accepted_chat(desk: Desk, visitor: Visitor, user: FakeUser = MANAGER) -> int:
    result = await visitor.transfer(name="Пётр <Водитель>", phone="+7 900 123-45-67")
    offer = await offer_to(desk, user)
    answer = await press(desk, user, offer.message_id, "✅ Принять чат")
    assert "ваш" in str(answer["text"])
    await desk.fake.wait_for_message(user.id, lambda m: "Режим ответа" in (m.text or ""))
    return int(result["support_chat_id"])


async def raw_request(base_url: str, head: bytes, body: bytes = b"", *, close_early: bool = False) -> tuple[int, bytes]:
    """One HTTP/1.1 request with exactly these bytes (clients refuse to send some of them)."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(head + b"\r\n" + body)
    await writer.drain()
    if close_early:
        writer.close()
        return 0, b""
    data = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


# Topic mode: shared by the topic, co-pilot and saved-reply tests.


async def take(desk: Desk, visitor: Visitor, name: str, user: Any = MANAGER) -> int:
    """The visitor asks for a person and `user` accepts; returns the support chat id."""
    result = await visitor.transfer(name=name, phone="+7 900 000-00-00")
    offer = await desk.fake.wait_for_message(
        user.id, lambda m: "✅ Принять чат" in m.button_texts and name in (m.text or ""))
    answer = await press(desk, user, offer.message_id, "✅ Принять чат")
    assert "ваш" in str(answer["text"])
    return int(result["support_chat_id"])


async def topic_of(desk: Desk, user: Any, name_part: str) -> int:
    """The thread id of the live topic whose name contains `name_part`, once Telegram has it."""
    found: list[int] = []

    def there() -> bool:
        found[:] = [t.message_thread_id for t in desk.fake.topics(user.id) if name_part in t.name]
        return len(found) == 1

    await eventually(there)
    return found[0]


async def in_thread(desk: Desk, user: Any, thread_id: int | None, text: str) -> SentMessage:
    found: list[SentMessage] = []

    def there() -> bool:
        found[:] = [m for m in desk.fake.thread(user.id, thread_id)
                    if m.from_bot and text in (m.text or m.caption or "")]
        return bool(found)

    await eventually(there)
    return found[0]
