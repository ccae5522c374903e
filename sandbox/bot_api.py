"""A local, stateful fake of the Telegram Bot API that the real aiogram Bot can talk to.

Telegram is unreachable from the machines this project is built and tested on,
so the product's bot is exercised end-to-end against this server instead: the
bot uses its ordinary AiohttpSession pointed at ``TelegramAPIServer.from_base``,
tests (and the /sandbox page) act as Telegram users, and every request is
checked against the official api.json so that calls Telegram would reject fail
here too, with Telegram's status codes and wording.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import re
import secrets
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web

from .spec import ApiSpec, CoercionError, MethodSpec, coerce, load_spec
from .tg_html import HTMLParseError, detect_entities, merge_entities, parse_html, strip_text

log = logging.getLogger(__name__)

FaultKind = Literal["429", "5xx", "timeout", "network"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
# Telegram excludes these three unless asked for explicitly.
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
# Fields that Telegram removed from the docs but still honours; the fake honours them
# too (so behaviour matches production) while still reporting them as violations.
_LEGACY_FIELDS = {"reply_to_message_id", "allow_sending_without_reply", "disable_web_page_preview"}
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_STATUS_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_REQUIRED_WORDING = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "callback_query_id": "query_id is empty",
    "action": "action is empty",
    "url": "url is empty",
    "document": "there is no document in the request",
    "photo": "there is no photo in the request",
    "commands": "commands are empty",
}


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


@dataclass
class FakeUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "ru"

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    def chat_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data

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
class _Fault:
    method: str | None
    kind: FaultKind
    remaining: int
    retry_after: int
    status: int
    delay: float


@dataclass
class _Event:
    kind: Literal["new", "edit"]
    chat_id: int
    message_id: int
    consumed: bool = False


@dataclass
class _Chat:
    user: FakeUser
    started: bool = True
    blocked: bool = False
    messages: dict[int, SentMessage] = field(default_factory=dict)
    next_id: int = 1


@dataclass
class _CallbackQuery:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None
    answered: asyncio.Event | None = None


class _Signal:
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


def _image_size(data: bytes) -> tuple[int, int]:
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


class FakeBotAPI:
    """In-memory Telegram Bot API server (see module docstring).

    Typical use::

        fake = FakeBotAPI(token)
        base_url = await fake.start()
        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    """

    def __init__(
        self,
        token: str,
        spec_path: Path | None = None,
        *,
        bot_username: str = "ilpo_taxi_sandbox_bot",
        bot_name: str = "ILPO-TAXI Support (sandbox)",
        webhook_retry_delay: float = 0.5,
        timeout_fault_delay: float = 5.0,
    ) -> None:
        self.token = token
        self.spec: ApiSpec = load_spec(spec_path)
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 100000001
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.webhook_retry_delay = webhook_retry_delay
        self.timeout_fault_delay = timeout_fault_delay
        self.base_url: str | None = None

        self.calls: list[ApiCall] = []
        self.violations: list[str] = []
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}

        self._chats: dict[int, _Chat] = {}
        self._faults: list[_Fault] = []
        self._events: list[_Event] = []
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._files: dict[str, UploadedFile] = {}
        self._file_seq = itertools.count(1)

        self._updates: list[dict[str, Any]] = []
        self._update_seq = itertools.count(10_000)
        self._allowed_updates: tuple[str, ...] | None = None
        self._poll_generation = 0

        self._webhook_url = ""
        self._webhook_secret: str | None = None
        self._webhook_max_connections = 40
        self._webhook_last_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._client: aiohttp.ClientSession | None = None

        self._updates_signal = _Signal()
        self._changes = _Signal()
        self._version = 0
        self._closing = False
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def app(self) -> web.Application:
        if self._app is None:
            # Telegram accepts 50 MB uploads; aiohttp's default 1 MiB would reject documents.
            app = web.Application(client_max_size=50 * 1024 * 1024)
            self.register(app, prefix="")
            self._app = app
        return self._app

    def register(self, app: web.Application, prefix: str = "/telegram-sandbox") -> None:
        """Mount the API routes into ``app`` under ``prefix`` (base url = host + prefix)."""
        prefix = prefix.rstrip("/")
        app.router.add_route("*", prefix + "/bot{token}/{method}", self._handle)
        app.router.add_get(prefix + "/file/bot{token}/{path:.+}", self._handle_file)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._closing = False
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        bound_port = sockets[0].getsockname()[1] if sockets else port
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        await self._on_shutdown(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._on_cleanup(None)

    async def _on_shutdown(self, _app: web.Application | None) -> None:
        # Long polls and held "timeout" faults must end now, or shutdown waits for them.
        self._closing = True
        self._updates_signal.notify()
        self._changes.notify()

    async def _on_cleanup(self, _app: web.Application | None) -> None:
        await self._stop_webhook_delivery()
        if self._client is not None:
            await self._client.close()
            self._client = None

    # ------------------------------------------------------------------ users & chats

    def register_user(self, user: FakeUser, *, started: bool = True) -> None:
        """Make a user known to "Telegram". ``started=False``: the user never opened the bot,
        so the bot gets 403 "bot can't initiate conversation" when writing to them."""
        chat = self._chats.get(user.id)
        if chat is None:
            self._chats[user.id] = _Chat(user=user, started=started)
        else:
            chat.user = user
            chat.started = chat.started or started

    def user(self, user_id: int) -> FakeUser | None:
        chat = self._chats.get(user_id)
        return chat.user if chat else None

    @property
    def users(self) -> list[FakeUser]:
        return [chat.user for chat in self._chats.values()]

    async def block(self, user: FakeUser) -> None:
        """The user blocks the bot: later sends fail with 403, and the bot gets my_chat_member."""
        chat = self._chat_for_user(user)
        chat.blocked = True
        self._enqueue("my_chat_member", self._member_update(user, "member", "kicked"))

    async def unblock(self, user: FakeUser) -> None:
        chat = self._chat_for_user(user)
        chat.blocked = False
        self._enqueue("my_chat_member", self._member_update(user, "kicked", "member"))

    def _member_update(self, user: FakeUser, old: str, new: str) -> dict[str, Any]:
        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": status, "user": self.bot_user()}
            if status == "kicked":
                data["until_date"] = 0
            return data

        return {
            "chat": user.chat_api(),
            "from": user.to_api(),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }

    def _chat_for_user(self, user: FakeUser) -> _Chat:
        self.register_user(user, started=False)
        return self._chats[user.id]

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    # ------------------------------------------------------------------ acting as users

    async def send_message(
        self, user: FakeUser, text: str, reply_to_message_id: int | None = None
    ) -> dict[str, Any]:
        """The user writes ``text`` to the bot; returns the Message object the bot receives."""
        chat = self._chat_for_user(user)
        chat.started = True
        chat.blocked = False
        entities = detect_entities(text)
        stored = self._store(
            chat,
            SentMessage(
                message_id=0,
                chat_id=user.id,
                date=int(time.time()),
                from_bot=False,
                text=text,
                raw_text=text,
                entities=entities,
                reply_to=reply_to_message_id,
            ),
        )
        message = self._message_json(stored)
        self._enqueue("message", message)
        return message

    async def send_document(
        self,
        user: FakeUser,
        filename: str,
        data: bytes,
        caption: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """The user sends a file; the bot can fetch it with getFile + the file URL."""
        chat = self._chat_for_user(user)
        chat.started = True
        upload = self._remember_file(UploadedFile(filename, data, content_type))
        stored = self._store(
            chat,
            SentMessage(
                message_id=0,
                chat_id=user.id,
                date=int(time.time()),
                from_bot=False,
                caption=caption,
                raw_caption=caption,
                document=upload,
                kind="document",
            ),
        )
        message = self._message_json(stored)
        self._enqueue("message", message)
        return message

    async def forward_message_from(
        self,
        user: FakeUser,
        original_sender: FakeUser,
        text: str | None = None,
        *,
        hidden: bool = False,
    ) -> dict[str, Any]:
        """``user`` forwards to the bot a message written by ``original_sender``.

        ``hidden=True`` models a sender whose privacy settings hide the account, which
        Telegram reports as a ``hidden_user`` origin without an id.
        """
        chat = self._chat_for_user(user)
        chat.started = True
        origin: dict[str, Any]
        if hidden:
            origin = {
                "type": "hidden_user",
                "date": int(time.time()) - 60,
                "sender_user_name": original_sender.full_name,
            }
        else:
            origin = {"type": "user", "date": int(time.time()) - 60, "sender_user": original_sender.to_api()}
        body = text if text is not None else f"Сообщение от {original_sender.full_name}"
        stored = self._store(
            chat,
            SentMessage(
                message_id=0,
                chat_id=user.id,
                date=int(time.time()),
                from_bot=False,
                text=body,
                raw_text=body,
                entities=detect_entities(body),
                forward_from=origin,
            ),
        )
        message = self._message_json(stored)
        self._enqueue("message", message)
        return message

    async def press_button(self, user: FakeUser, message_id: int, button: str) -> str:
        """Press an inline button found by callback_data or by its visible text.

        Returns the callback query id, for :meth:`wait_callback_answer`.
        """
        chat = self._chat_for_user(user)
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise LookupError(f"message {message_id} not found in chat {user.id}")
        markup = message.reply_markup or {}
        candidates = [b for row in markup.get("inline_keyboard") or [] for b in row]
        chosen = next((b for b in candidates if b.get("callback_data") == button), None)
        if chosen is None:
            chosen = next((b for b in candidates if b.get("text") == button), None)
        if chosen is None:
            raise LookupError(
                f"no inline button {button!r} in message {message_id}; buttons: "
                f"{[(b.get('text'), b.get('callback_data')) for b in candidates]}"
            )
        if "callback_data" not in chosen:
            raise ValueError(f"button {chosen.get('text')!r} is not a callback button: {chosen}")
        cq_id = str(secrets.randbits(63))
        self._callbacks[cq_id] = _CallbackQuery(
            id=cq_id,
            user_id=user.id,
            chat_id=user.id,
            message_id=message_id,
            data=str(chosen["callback_data"]),
            answered=asyncio.Event(),
        )
        chat_instance = str(int(hashlib.sha1(f"{self.bot_id}:{user.id}".encode()).hexdigest()[:15], 16))
        self._enqueue(
            "callback_query",
            {
                "id": cq_id,
                "from": user.to_api(),
                "message": self._message_json(message),
                "chat_instance": chat_instance,
                "data": str(chosen["callback_data"]),
            },
        )
        return cq_id

    async def wait_callback_answer(
        self,
        cq_id: str,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """The answerCallbackQuery params (text, show_alert, url, cache_time) for that press."""
        query = self._callbacks.get(cq_id)
        if query is None or query.answered is None:
            raise LookupError(f"unknown callback query {cq_id}")
        try:
            await asyncio.wait_for(query.answered.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"callback query {cq_id} ({query.data!r}) not answered in {timeout}s"
            ) from None
        return dict(query.answer or {})

    def callback_answer(self, cq_id: str) -> dict[str, Any] | None:
        query = self._callbacks.get(cq_id)
        return dict(query.answer) if query and query.answer is not None else None

    # ------------------------------------------------------------------ reading what the bot did

    def messages(self, chat_id: int) -> list[SentMessage]:
        """The bot's messages in the chat, current state (after edits), deleted ones excluded."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [m for m in chat.messages.values() if m.from_bot and not m.deleted]

    def transcript(self, chat_id: int, include_deleted: bool = False) -> list[SentMessage]:
        """Both sides of the chat in order, as a Telegram client would show it."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [m for m in chat.messages.values() if include_deleted or not m.deleted]

    def message(self, chat_id: int, message_id: int) -> SentMessage | None:
        chat = self._chats.get(chat_id)
        return chat.messages.get(message_id) if chat else None

    def last_message(self, chat_id: int) -> SentMessage | None:
        bot_messages = self.messages(chat_id)
        return bot_messages[-1] if bot_messages else None

    def calls_of(self, method: str) -> list[ApiCall]:
        lowered = method.lower()
        return [c for c in self.calls if c.method.lower() == lowered]

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> SentMessage:
        """Wait for a bot message in the chat that no earlier wait has returned.

        Messages already sent before the call count as well, so a reply that races
        ahead of the wait is not lost; each message is handed out once.
        """
        return await self._wait_event("new", chat_id, None, predicate, timeout)

    async def wait_for_edit(
        self,
        chat_id: int,
        message_id: int | None = None,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> SentMessage:
        """Wait for an edit (text, caption or keyboard) of a bot message in the chat."""
        return await self._wait_event("edit", chat_id, message_id, predicate, timeout)

    async def _wait_event(
        self,
        kind: Literal["new", "edit"],
        chat_id: int,
        message_id: int | None,
        predicate: Callable[[SentMessage], bool] | None,
        seconds: float,
    ) -> SentMessage:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            for event in self._events:
                if event.consumed or event.kind != kind or event.chat_id != chat_id:
                    continue
                if message_id is not None and event.message_id != message_id:
                    continue
                message = self._chats[chat_id].messages[event.message_id]
                if predicate is None or predicate(message):
                    event.consumed = True
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                seen = [(m.message_id, m.content[:80]) for m in self.messages(chat_id)]
                what = "edit of a bot message" if kind == "edit" else "bot message"
                raise TimeoutError(
                    f"no new {what} in chat {chat_id} matching the predicate within {seconds}s; "
                    f"bot messages there: {seen}"
                )
            await self._changes.wait(remaining)

    @property
    def version(self) -> int:
        """Bumped on every visible change; the sandbox page long-polls on it."""
        return self._version

    async def wait_for_change(self, since: int, seconds: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self._version <= since and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._changes.wait(remaining)
        return self._version

    def commands_for(self, user: FakeUser) -> list[dict[str, str]]:
        """The command menu this user would see, following Telegram's scope precedence."""
        lang = user.language_code or ""
        scopes = [
            json.dumps({"type": "chat", "chat_id": user.id}, sort_keys=True),
            json.dumps({"type": "all_private_chats"}, sort_keys=True),
            json.dumps({"type": "default"}, sort_keys=True),
        ]
        for scope in scopes:
            for language in (lang, ""):
                found = self.commands.get((scope, language))
                if found:
                    return list(found)
        return []

    def file(self, file_id: str) -> UploadedFile | None:
        return self._files.get(file_id)

    def inject_fault(
        self,
        method: str | None,
        kind: FaultKind,
        times: int = 1,
        retry_after: int = 1,
        status: int = 502,
        *,
        delay: float | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (any method if None) fail; faulted
        calls have no effect. ``delay`` is how long a "timeout" fault holds the request."""
        if kind not in ("429", "5xx", "timeout", "network"):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.append(
            _Fault(
                method=method.lower() if method else None,
                kind=kind,
                remaining=times,
                retry_after=retry_after,
                status=status,
                delay=self.timeout_fault_delay if delay is None else delay,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def reset(self) -> None:
        """Forget calls and violations (state such as chats and messages is kept)."""
        self.calls.clear()
        self.violations.clear()

    # ------------------------------------------------------------------ internals: state

    def _bump(self) -> None:
        self._version += 1
        self._changes.notify()

    def _store(self, chat: _Chat, message: SentMessage) -> SentMessage:
        message.message_id = chat.next_id
        chat.next_id += 1
        chat.messages[message.message_id] = message
        if message.from_bot:
            self._events.append(_Event("new", chat.user.id, message.message_id))
        self._bump()
        return message

    def _enqueue(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_seq), update_type: payload}
        self._updates.append(update)
        self._updates_signal.notify()
        self._bump()
        return update

    def _remember_file(self, upload: UploadedFile) -> UploadedFile:
        seq = next(self._file_seq)
        digest = hashlib.sha1(upload.data or (upload.url or "").encode()).hexdigest()
        upload.file_id = f"BQAC{seq:04d}{digest[:24]}"
        upload.file_unique_id = f"AgAD{digest[:12]}"
        self._files[upload.file_id] = upload
        return upload

    def _message_json(self, message: SentMessage, *, with_reply: bool = True) -> dict[str, Any]:
        chat = self._chats[message.chat_id]
        sender = self.bot_user() if message.from_bot else chat.user.to_api()
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": sender,
            "chat": chat.user.chat_api(),
            "date": message.date,
        }
        if message.forward_from is not None:
            data["forward_origin"] = message.forward_from
        if message.reply_to is not None and with_reply:
            original = chat.messages.get(message.reply_to)
            if original is not None and not original.deleted:
                data["reply_to_message"] = self._message_json(original, with_reply=False)
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if message.text is not None:
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        if message.document is not None:
            data["document"] = self._document_json(message.document)
        if message.photo is not None:
            width, height = _image_size(message.photo.data)
            data["photo"] = [
                {
                    "file_id": message.photo.file_id,
                    "file_unique_id": message.photo.file_unique_id,
                    "width": width,
                    "height": height,
                    "file_size": message.photo.size,
                }
            ]
        data.update(message.media)
        if message.caption is not None:
            data["caption"] = message.caption
            if message.entities:
                data["caption_entities"] = message.entities
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        return data

    @staticmethod
    def _document_json(upload: UploadedFile) -> dict[str, Any]:
        data: dict[str, Any] = {"file_id": upload.file_id, "file_unique_id": upload.file_unique_id}
        if upload.filename:
            data["file_name"] = upload.filename
        if upload.content_type:
            data["mime_type"] = upload.content_type
        if upload.data:
            data["file_size"] = upload.size
        return data

    # ------------------------------------------------------------------ internals: HTTP

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(TelegramError(401, "Unauthorized").body(), status=401)
        path = request.match_info["path"]
        upload = next((f for f in self._files.values() if self._file_path(f) == path), None)
        if upload is None:
            return web.json_response(TelegramError(404, "Not Found").body(), status=404)
        return web.Response(body=upload.data, content_type=upload.content_type or "application/octet-stream")

    @staticmethod
    def _file_path(upload: UploadedFile) -> str:
        suffix = Path(upload.filename or "").suffix
        return f"documents/file_{upload.file_id[4:8]}{suffix}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        if token != self.token:
            return web.json_response(TelegramError(401, "Unauthorized").body(), status=401)
        spec = self.spec.method(method_name)
        if spec is None:
            log.warning("fake Bot API: unknown method %r", method_name)
            return web.json_response(TelegramError(404, "Not Found").body(), status=404)
        try:
            raw = await self._read_params(request)
        except TelegramError as err:
            return web.json_response(err.body(), status=err.code)
        call = ApiCall(method=spec.name, params=dict(raw), time=time.time())
        self.calls.append(call)

        fault = self._take_fault(spec.name)
        if fault is not None:
            call.ok = False
            call.fault = fault.kind
            return await self._apply_fault(request, fault)

        try:
            params = self._validate(spec, raw)
            call.params = params
            result = await self._dispatch(spec, params)
        except TelegramError as err:
            call.ok = False
            call.error = err.description
            if err.code != 409:
                log.info("fake Bot API: %s -> %s %s", spec.name, err.code, err.description)
            return web.json_response(err.body(), status=err.code)
        call.ok = True
        return web.json_response({"ok": True, "result": result})

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Execute a method in-process (used for webhook replies); raises TelegramError."""
        spec = self.spec.method(method)
        if spec is None:
            raise TelegramError(404, "Not Found")
        raw = dict(params or {})
        call = ApiCall(method=spec.name, params=raw, time=time.time())
        self.calls.append(call)
        try:
            validated = self._validate(spec, raw)
            call.params = validated
            result = await self._dispatch(spec, validated)
        except TelegramError as err:
            call.ok, call.error = False, err.description
            raise
        call.ok = True
        return result

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        content_type = request.content_type
        try:
            if content_type == "multipart/form-data":
                reader = await request.multipart()
                async for part in reader:
                    if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                        continue
                    if part.filename is not None:
                        data = await part.read(decode=True)
                        params[part.name] = UploadedFile(
                            filename=part.filename,
                            data=bytes(data),
                            content_type=part.headers.get("Content-Type"),
                        )
                    else:
                        params[part.name] = await part.text()
            elif content_type == "application/json":
                body = await request.content.read()
                if body:
                    decoded = json.loads(body)
                    if not isinstance(decoded, dict):
                        raise bad_request("JSON body must be an object")
                    params.update(decoded)
            elif request.can_read_body:
                # Read the raw stream rather than request.post(): the host app's
                # client_max_size must not cap what the fake accepts.
                body = await request.content.read()
                charset = request.charset or "utf-8"
                params.update(parse_qsl(body.decode(charset), keep_blank_values=True))
        except (ValueError, UnicodeDecodeError) as err:
            raise bad_request(f"can't parse request body: {err}") from None
        return params

    def _take_fault(self, method: str) -> _Fault | None:
        lowered = method.lower()
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (None, lowered):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _apply_fault(self, request: web.Request, fault: _Fault) -> web.StreamResponse:
        if fault.kind == "429":
            err = TelegramError(
                429,
                f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
            return web.json_response(err.body(), status=429)
        if fault.kind == "5xx":
            err = TelegramError(fault.status, _STATUS_TEXT.get(fault.status, "Internal Server Error"))
            return web.json_response(err.body(), status=fault.status)
        if fault.kind == "timeout":
            loop = asyncio.get_running_loop()
            deadline = loop.time() + fault.delay
            while not self._closing and loop.time() < deadline:
                await self._changes.wait(deadline - loop.time())
            err = TelegramError(504, "Gateway Timeout")
            return web.json_response(err.body(), status=504)
        # "network": drop the TCP connection mid-request, as a flaky proxy or NAT would.
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    # ------------------------------------------------------------------ internals: validation

    def _violation(self, message: str) -> None:
        self.violations.append(message)
        log.warning("fake Bot API violation: %s", message)

    def _validate(self, spec: MethodSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
        # aiogram uploads files as separate multipart parts referenced by "attach://<name>".
        attachments = {
            key: value
            for key, value in raw.items()
            if isinstance(value, UploadedFile) and key not in spec.fields
        }
        referenced: set[str] = set()
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in attachments:
                continue
            field_spec = spec.fields.get(key)
            if field_spec is None:
                if key in _LEGACY_FIELDS:
                    self._violation(
                        f"{spec.name}: deprecated field {key!r} (not in Bot API {self.spec.version})"
                    )
                    params[key] = _legacy_value(key, value)
                else:
                    self._violation(f"{spec.name}: unknown field {key!r}")
                continue
            if isinstance(value, UploadedFile):
                if not field_spec.accepts_file:
                    raise bad_request(f'field "{key}" can\'t be a file')
                params[key] = value
                continue
            if field_spec.accepts_file and isinstance(value, str) and value.startswith("attach://"):
                name = value.removeprefix("attach://")
                if name not in attachments:
                    raise bad_request(f"file attach://{name} not found in the request")
                referenced.add(name)
                params[key] = attachments[name]
                continue
            try:
                params[key] = coerce(field_spec, value)
            except CoercionError as err:
                if key == "reply_markup":
                    raise bad_request("can't parse reply keyboard markup JSON object") from None
                raise bad_request(str(err)) from None
        for name in attachments:
            if name not in referenced and not any(
                isinstance(v, str) and f"attach://{name}" in v for v in raw.values()
            ):
                self._violation(f"{spec.name}: uploaded file part {name!r} is not referenced by any field")
        for field_spec in spec.fields.values():
            if not field_spec.required:
                continue
            value = params.get(field_spec.name)
            if value is None or value == "" or value == []:
                default = f'parameter "{field_spec.name}" is required'
                wording = _REQUIRED_WORDING.get(field_spec.name, default)
                raise bad_request(wording)
        markup = params.get("reply_markup")
        if markup is not None:
            self._check_reply_markup(markup)
        return params

    def _check_reply_markup(self, markup: Any) -> None:
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('can\'t parse inline keyboard: field "inline_keyboard" must be an Array')
        actions = (
            "url",
            "callback_data",
            "web_app",
            "login_url",
            "switch_inline_query",
            "switch_inline_query_current_chat",
            "switch_inline_query_chosen_chat",
            "copy_text",
            "callback_game",
            "pay",
        )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not str(button.get("text", "")):
                    raise bad_request("can't parse inline keyboard button: Text is not specified")
                if not any(key in button for key in actions):
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and (
                    not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA
                ):
                    raise bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
                    raise bad_request("BUTTON_URL_INVALID")

    def _format(
        self, text: str, parse_mode: str | None, entities: Any, limit: int, *, caption: bool
    ) -> tuple[str, list[dict[str, Any]]]:
        """Apply parse_mode the way Telegram does and enforce the length limit after parsing."""
        explicit: list[dict[str, Any]] = []
        plain = text
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                parsed = parse_html(text)
            except HTMLParseError as err:
                raise bad_request(f"can't parse entities: {err}") from None
            for warning in parsed.warnings:
                self._violation(f"HTML text: {warning} (escape user input with html.escape)")
            plain, explicit = parsed.text, parsed.entities
        elif mode in ("markdown", "markdownv2"):
            # Not modelled: the project formats with HTML; accept the text verbatim.
            plain = text
        elif mode:
            raise bad_request("unsupported parse_mode")
        elif isinstance(entities, list):
            explicit = [e for e in entities if isinstance(e, dict)]
        plain, explicit = strip_text(plain, explicit)
        if not plain and not caption:
            raise bad_request("message text is empty")
        if len(plain) > limit:
            raise bad_request("message caption is too long" if caption else "message is too long")
        return plain, merge_entities(explicit, detect_entities(plain))

    # ------------------------------------------------------------------ internals: methods

    async def _dispatch(self, spec: MethodSpec, params: dict[str, Any]) -> Any:
        handler = getattr(self, f"_m_{spec.name}", None)
        if handler is not None:
            return await handler(params)
        if spec.returns == ("Message",) and "chat_id" in params:
            return self._generic_send(spec.name, params)
        if spec.returns != ("Boolean",):
            log.warning(
                "fake Bot API: %s is not modelled; answering true although it returns %s",
                spec.name,
                " or ".join(spec.returns),
            )
        return True

    def _target_chat(self, chat_id: Any, *, sending: bool) -> _Chat:
        if isinstance(chat_id, str):
            wanted = chat_id.removeprefix("@").lower()
            chat = next((c for c in self._chats.values() if (c.user.username or "").lower() == wanted), None)
            if chat is None or chat_id.lstrip("-").isdigit():
                raise bad_request("chat not found")
            return chat
        chat = self._chats.get(int(chat_id))
        if chat is None:
            raise bad_request("chat not found")
        if sending and chat.blocked:
            raise TelegramError(403, "Forbidden: bot was blocked by the user")
        if sending and not chat.started:
            raise TelegramError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    def _reply_target(self, chat: _Chat, params: Mapping[str, Any]) -> int | None:
        reply = params.get("reply_parameters")
        reply_id: int | None = None
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict) and reply.get("message_id") is not None:
            reply_id = int(reply["message_id"])
            allow_missing = bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") not in (None, chat.user.id):
                raise bad_request("message to be replied not found")
        elif params.get("reply_to_message_id") is not None:
            reply_id = int(params["reply_to_message_id"])
        if reply_id is None:
            return None
        original = chat.messages.get(reply_id)
        if original is None or original.deleted:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return reply_id

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_logOut(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._webhook_url:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0, int(params.get("timeout") or 0))
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self._allowed_updates = tuple(params["allowed_updates"]) or None
        self._confirm(offset)
        # A newer getUpdates terminates the older one, exactly as Telegram does when
        # two bot instances poll at once; this makes a duplicated poller visible.
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise TelegramError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self._webhook_url:
                return []
            ready = self._deliverable()[:limit]
            if ready:
                return ready
            if self._closing:
                # A poller that keeps asking during shutdown would otherwise spin on instant answers.
                await asyncio.sleep(0.05)
                return []
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._updates_signal.wait(remaining)

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed_updates is None:
            return kind not in _OPT_IN_UPDATES
        return kind in self._allowed_updates

    def _deliverable(self) -> list[dict[str, Any]]:
        # Updates the bot did not subscribe to are dropped, as Telegram never stores them.
        self._updates = [u for u in self._updates if self._allowed(u)]
        return list(self._updates)

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        url = str(params["url"])
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = tuple(params["allowed_updates"]) or None
        self._webhook_max_connections = int(params.get("max_connections") or 40)
        self._webhook_url = url
        self._webhook_secret = str(secret) if secret else None
        self._webhook_last_error = None
        self._updates_signal.notify()
        self._ensure_webhook_delivery()
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self._webhook_url = ""
        self._webhook_secret = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        await self._stop_webhook_delivery()
        self._updates_signal.notify()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._deliverable()),
        }
        if self._webhook_url:
            info["max_connections"] = self._webhook_max_connections
            info["ip_address"] = "127.0.0.1"
            if self._allowed_updates is not None:
                info["allowed_updates"] = list(self._allowed_updates)
        if self._webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    def _ensure_webhook_delivery(self) -> None:
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhooks())

    async def _stop_webhook_delivery(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver_webhooks(self) -> None:
        """Push pending updates one at a time, in order, retrying until the bot answers 2xx."""
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession()
        while self._webhook_url and not self._closing:
            pending = self._deliverable()
            if not pending:
                await self._updates_signal.wait(1.0)
                continue
            update = pending[0]
            headers = {"Content-Type": "application/json"}
            if self._webhook_secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self._webhook_secret
            try:
                async with self._client.post(
                    self._webhook_url,
                    data=json.dumps(update, ensure_ascii=False),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=60),
                ) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as err:
                self._webhook_failed(f"Connection failed: {type(err).__name__}: {err}")
                await asyncio.sleep(self.webhook_retry_delay)
                continue
            if not 200 <= status < 300:
                self._webhook_failed(f"Wrong response from the webhook: {status} {resp.reason}")
                await asyncio.sleep(self.webhook_retry_delay)
                continue
            self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
            await self._run_webhook_reply(body)

    def _webhook_failed(self, message: str) -> None:
        self._webhook_last_error = (int(time.time()), message)
        log.info("fake Bot API: webhook delivery failed: %s", message)

    async def _run_webhook_reply(self, body: bytes) -> None:
        # Telegram executes a method returned in the webhook response body (aiogram uses
        # this when handlers answer synchronously), so the fake does as well.
        if not body.strip():
            return
        try:
            reply = json.loads(body)
        except ValueError:
            return
        if isinstance(reply, dict) and isinstance(reply.get("method"), str):
            params = {k: v for k, v in reply.items() if k != "method"}
            with contextlib.suppress(TelegramError):
                await self.call(reply["method"], params)

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params["chat_id"], sending=True)
        raw_text = str(params["text"])
        text, entities = self._format(
            raw_text, params.get("parse_mode"), params.get("entities"), MAX_TEXT, caption=False
        )
        message = self._store(
            chat,
            SentMessage(
                message_id=0,
                chat_id=chat.user.id,
                date=int(time.time()),
                from_bot=True,
                text=text,
                raw_text=raw_text,
                parse_mode=params.get("parse_mode"),
                entities=entities,
                reply_markup=params.get("reply_markup"),
                reply_to=self._reply_target(chat, params),
                params=params,
            ),
        )
        return self._message_json(message)

    def _upload_from(self, value: Any, field_name: str) -> UploadedFile:
        if isinstance(value, UploadedFile):
            return self._remember_file(value)
        ref = str(value)
        known = self._files.get(ref)
        if known is not None:
            return known
        if re.match(r"^https?://", ref):
            name = Path(urlsplit(ref).path).name or field_name
            return self._remember_file(UploadedFile(filename=name, data=b"", url=ref))
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
        """A media message's caption, checked and parsed like Telegram does (1024 characters at most)."""
        raw_caption = params.get("caption")
        if not raw_caption:
            return None, []
        return self._format(
            str(raw_caption), params.get("parse_mode"), params.get("caption_entities"), MAX_CAPTION, caption=True
        )

    async def _send_media(self, kind: Literal["document", "photo"], params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params["chat_id"], sending=True)
        upload = self._upload_from(params[kind], kind)
        raw_caption = params.get("caption")
        caption, entities = self._caption(params)
        message = self._store(
            chat,
            SentMessage(
                message_id=0,
                chat_id=chat.user.id,
                date=int(time.time()),
                from_bot=True,
                caption=caption or None,
                raw_caption=str(raw_caption) if raw_caption else None,
                parse_mode=params.get("parse_mode"),
                entities=entities,
                reply_markup=params.get("reply_markup"),
                reply_to=self._reply_target(chat, params),
                document=upload if kind == "document" else None,
                photo=upload if kind == "photo" else None,
                kind=kind,
                params=params,
            ),
        )
        return self._message_json(message)

    async def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media("document", params)

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media("photo", params)

    def _generic_send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params["chat_id"], sending=True)
        raw_caption = params.get("caption")
        caption, entities = self._caption(params)
        message = self._store(
            chat,
            SentMessage(
                message_id=0,
                chat_id=chat.user.id,
                date=int(time.time()),
                from_bot=True,
                caption=caption,
                raw_caption=str(raw_caption) if raw_caption else None,
                entities=entities,
                reply_markup=params.get("reply_markup"),
                reply_to=self._reply_target(chat, params),
                kind=method,
                media=_media_fields(method, params),
                params=params,
            ),
        )
        return self._message_json(message)

    def _editable(self, params: Mapping[str, Any]) -> tuple[_Chat, SentMessage]:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        if params.get("chat_id") is None:
            raise bad_request("chat_id is empty")
        if params.get("message_id") is None:
            raise bad_request("message identifier is not specified")
        chat = self._target_chat(params["chat_id"], sending=False)
        if chat.blocked:
            raise TelegramError(403, "Forbidden: bot was blocked by the user")
        message = chat.messages.get(int(params["message_id"]))
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return chat, message

    def _apply_edit(
        self,
        message: SentMessage,
        *,
        text: str | None,
        raw_text: str | None,
        caption: str | None,
        raw_caption: str | None,
        entities: list[dict[str, Any]],
        reply_markup: dict[str, Any] | None,
        parse_mode: str | None,
    ) -> dict[str, Any]:
        before = MessageState(
            message.text, message.caption, message.entities, message.reply_markup, message.edit_date
        )
        after_markup = reply_markup if reply_markup and reply_markup.get("inline_keyboard") else None
        if (text, caption, entities, after_markup) == (
            message.text,
            message.caption,
            message.entities,
            message.reply_markup,
        ):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.history.append(before)
        message.text, message.raw_text = text, raw_text
        message.caption, message.raw_caption = caption, raw_caption
        message.entities = entities
        message.reply_markup = after_markup
        message.parse_mode = parse_mode
        message.edit_date = int(time.time())
        self._events.append(_Event("edit", message.chat_id, message.message_id))
        self._bump()
        return self._message_json(message)

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        _chat, message = self._editable(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        raw_text = params.get("text")
        if not raw_text:
            raise bad_request("message text is empty")
        text, entities = self._format(
            str(raw_text), params.get("parse_mode"), params.get("entities"), MAX_TEXT, caption=False
        )
        # Like Telegram, an edit without reply_markup removes the inline keyboard.
        return self._apply_edit(
            message,
            text=text,
            raw_text=str(raw_text),
            caption=None,
            raw_caption=None,
            entities=entities,
            reply_markup=params.get("reply_markup"),
            parse_mode=params.get("parse_mode"),
        )

    async def _m_editMessageCaption(self, params: dict[str, Any]) -> dict[str, Any]:
        _chat, message = self._editable(params)
        if message.text is not None:
            raise bad_request("there is no caption in the message to edit")
        raw_caption = params.get("caption")
        caption, entities = self._caption(params)
        return self._apply_edit(
            message,
            text=None,
            raw_text=None,
            caption=caption or None,
            raw_caption=str(raw_caption) if raw_caption else None,
            entities=entities,
            reply_markup=params.get("reply_markup"),
            parse_mode=params.get("parse_mode"),
        )

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        _chat, message = self._editable(params)
        return self._apply_edit(
            message,
            text=message.text,
            raw_text=message.raw_text,
            caption=message.caption,
            raw_caption=message.raw_caption,
            entities=message.entities,
            reply_markup=params.get("reply_markup"),
            parse_mode=message.parse_mode,
        )

    async def _m_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params["chat_id"], sending=False)
        message = chat.messages.get(int(params["message_id"]))
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        message.deleted = True
        self._bump()
        return True

    async def _m_deleteMessages(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params["chat_id"], sending=False)
        ids = params.get("message_ids") or []
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        for message_id in ids:
            message = chat.messages.get(int(message_id))
            if message is not None:
                message.deleted = True
        self._bump()
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query = self._callbacks.get(str(params["callback_query_id"]))
        if query is None or query.answer is not None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answer = {
            "text": text,
            "show_alert": bool(params.get("show_alert", False)),
            "url": params.get("url"),
            "cache_time": params.get("cache_time"),
        }
        if query.answered is not None:
            query.answered.set()
        self._bump()
        return True

    async def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._target_chat(params["chat_id"], sending=True)
        if params["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    @staticmethod
    def _scope_key(params: Mapping[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params["commands"]
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned: list[dict[str, str]] = []
        for item in commands:
            if not isinstance(item, dict):
                raise bad_request("can't parse BotCommand JSON object")
            command = str(item.get("command", "")).removeprefix("/")
            description = str(item.get("description", ""))
            if not _COMMAND_RE.match(command):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": command, "description": description})
        key = self._scope_key(params)
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        self._bump()
        return True

    async def _m_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return list(self.commands.get(self._scope_key(params), []))

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        self._bump()
        return True

    async def _m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params["chat_id"], sending=False)
        return {
            **chat.user.chat_api(),
            "accent_color_id": chat.user.id % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    async def _m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params["chat_id"], sending=False)
        user_id = int(params["user_id"])
        if user_id == self.bot_id:
            return {"status": "member", "user": self.bot_user()}
        if user_id != chat.user.id:
            raise bad_request("user not found")
        return {"status": "member", "user": chat.user.to_api()}

    async def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._files.get(str(params["file_id"]))
        if upload is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": upload.file_id,
            "file_unique_id": upload.file_unique_id,
            "file_size": upload.size,
            "file_path": self._file_path(upload),
        }


def _legacy_value(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key == "reply_to_message_id":
        return int(value) if value.lstrip("-").isdigit() else None
    return value.strip().lower() in ("true", "1")


def _pick(params: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: params[name] for name in names if params.get(name) not in (None, "")}


def _media_fields(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The Message fields Telegram fills for send* methods the fake does not model one by one."""
    location = _pick(params, "latitude", "longitude", "horizontal_accuracy", "live_period", "heading")
    if method == "sendContact":
        return {"contact": _pick(params, "phone_number", "first_name", "last_name", "vcard")}
    if method == "sendLocation":
        return {"location": location}
    if method == "sendVenue":
        venue = {"location": _pick(params, "latitude", "longitude"), **_pick(params, "title", "address")}
        return {"venue": venue, "location": venue["location"]}
    if method == "sendDice":
        emoji = str(params.get("emoji") or "🎲")
        return {"dice": {"emoji": emoji, "value": 1 + secrets.randbelow(6)}}
    return {}
