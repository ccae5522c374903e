"""The fake Bot API's value types: users, messages, uploaded files and Telegram's error answer."""

from __future__ import annotations

import asyncio
import logging
import struct
import time as _time
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

FaultKind = Literal["429", "5xx", "timeout", "network"]


class TelegramError(Exception):
    """An error answer exactly as Telegram would produce it."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            payload["parameters"] = self.parameters
        return payload


def bad_request(detail: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {detail}")


def with_present(data: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """``data`` plus those optional fields that are set: Telegram leaves empty fields out of its JSON."""
    data.update({name: value for name, value in optional.items() if value})
    return data


@dataclass
class FakeUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "ru"
    # None follows the bot's setting (getMe's has_topics_enabled); True/False overrides it for this chat.
    has_topics_enabled: bool | None = None

    def to_api(self) -> dict[str, Any]:
        return with_present(
            {"id": self.id, "is_bot": False, "first_name": self.first_name},
            last_name=self.last_name,
            username=self.username,
            language_code=self.language_code,
        )

    def chat_api(self) -> dict[str, Any]:
        return with_present(
            {"id": self.id, "type": "private", "first_name": self.first_name},
            last_name=self.last_name,
            username=self.username,
        )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass
class UploadedFile:
    filename: str | None
    data: bytes
    content_type: str | None = None
    file_id: str = ""
    file_unique_id: str = ""
    url: str | None = None  # set when the bot passed an HTTP URL instead of bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    time: float
    ok: bool | None = None
    error: str | None = None
    fault: str | None = None


@dataclass
class MessageState:
    text: str | None
    caption: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    edit_date: int | None


@dataclass
class SentMessage:
    """A message in a private chat; ``from_bot`` tells the bot's own from the user's."""

    message_id: int
    chat_id: int
    date: int
    from_bot: bool
    text: str | None = None  # plain text after entity parsing, as in Message.text
    raw_text: str | None = None  # exactly what the bot sent (before parse_mode)
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    raw_caption: str | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None
    document: UploadedFile | None = None
    photo: UploadedFile | None = None
    kind: str = "text"  # "text", "document", "photo", or the send* method for other media
    edit_date: int | None = None
    history: list[MessageState] = field(default_factory=list)
    deleted: bool = False
    forward_from: dict[str, Any] | None = None
    # Message fields of other kinds of sends (contact, location, venue, dice...), as in Message JSON.
    media: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    thread_id: int | None = None  # the private-chat topic the message is in (message_thread_id)
    via_bot: bool = False  # sent by the user through the bot's inline mode

    def snapshot(self) -> MessageState:
        """What the message showed before an edit, for its ``history``."""
        return MessageState(self.text, self.caption, self.entities, self.reply_markup, self.edit_date)

    @property
    def contact(self) -> dict[str, Any] | None:
        return self.media.get("contact")

    @property
    def location(self) -> dict[str, Any] | None:
        return self.media.get("location")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [button for row in rows if isinstance(row, list) for button in row if isinstance(button, dict)]

    @property
    def button_texts(self) -> list[str]:
        return [str(b.get("text", "")) for b in self.buttons]

    @property
    def edited(self) -> bool:
        return bool(self.history)

    @property
    def content(self) -> str:
        """Text or caption, whichever the message has; handy in predicates."""
        return self.text if self.text is not None else (self.caption or "")


@dataclass
class Fault:
    method: str | None
    kind: FaultKind
    remaining: int
    retry_after: int
    status: int
    delay: float


@dataclass
class ChatEvent:
    kind: Literal["new", "edit"]
    chat_id: int
    message_id: int
    consumed: bool = False


@dataclass
class Topic:
    """A forum topic in the private chat with a user (Bot API 10.1)."""

    message_thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    created_by_bot: bool = True
    deleted: bool = False

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_thread_id": self.message_thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return data


@dataclass
class Draft:
    """A message the bot streams with sendMessageDraft; ``frames`` keeps every text it showed."""

    draft_id: int
    thread_id: int | None
    text: str
    entities: list[dict[str, Any]]
    frames: list[str] = field(default_factory=list)
    time: float = 0.0
    done: bool = False  # a sendMessage in the same thread finished it

    @property
    def active(self) -> bool:
        """Shown to the user: not finished and streamed within the last 30 seconds."""
        return not self.done and _time.time() - self.time < 30


@dataclass
class ChatAction:
    """One sendChatAction ("typing"...) as the user's client would show it."""

    action: str
    thread_id: int | None
    time: float


@dataclass(kw_only=True)
class PendingQuery:
    """A query the bot answers once (callback or inline); the test side waits for that answer."""

    answer: dict[str, Any] | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def resolve(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.answered.set()

    async def wait(self, label: str, timeout: float) -> dict[str, Any]:
        try:
            await asyncio.wait_for(self.answered.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{label} not answered in {timeout}s") from None
        return dict(self.answer or {})


@dataclass
class InlineQueryState(PendingQuery):
    id: str
    user_id: int
    query: str
    offset: str


@dataclass
class ChatState:
    user: FakeUser
    started: bool = True
    blocked: bool = False
    messages: dict[int, SentMessage] = field(default_factory=dict)
    next_id: int = 1
    topics: dict[int, Topic] = field(default_factory=dict)
    drafts: dict[tuple[int | None, int], Draft] = field(default_factory=dict)
    actions: list[ChatAction] = field(default_factory=list)


@dataclass
class CallbackQueryState(PendingQuery):
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str


class Signal:
    """Wakes every waiter on each change; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
        except TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


def image_size(data: bytes) -> tuple[int, int]:
    """Width/height for PhotoSize; Telegram always reports them, so the fake does too."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                break
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return 1, 1
