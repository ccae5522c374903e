"""What the fake "Telegram" knows — users, chats, messages, files, the update queue — and how tests read it.

Every other part of the fake (transport, methods, actors) works on this state; no request is
handled here.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web

from .limits import FloodControl, FloodLimits
from .model import (
    ApiCall,
    CallbackQueryState,
    ChatEvent,
    ChatState,
    FakeUser,
    Fault,
    InlineQueryState,
    SentMessage,
    Signal,
    TelegramError,
    Topic,
    UploadedFile,
    bad_request,
    image_size,
    with_present,
)
from .spec import ApiSpec, load_spec

log = logging.getLogger(__name__)


class FakeState:
    """Chats, messages and the update queue, plus the read side tests and the sandbox page use."""

    def __init__(
        self,
        token: str,
        spec_path: Path | None = None,
        *,
        bot_username: str = "ilpo_taxi_sandbox_bot",
        bot_name: str = "ILPO-TAXI Support (sandbox)",
        webhook_retry_delay: float = 0.5,
        timeout_fault_delay: float = 5.0,
        flood_limits: FloodLimits | bool | None = None,
        topics_enabled: bool = False,
        inline_mode: bool = False,
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
        # Off unless asked for: FakeBotAPI(token, flood_limits=True) or flood.enable() at run time.
        self.flood = FloodControl(FloodLimits() if flood_limits is True else flood_limits or None)
        # getMe's has_topics_enabled; a FakeUser may override it for their own chat.
        self.topics_enabled = topics_enabled
        # getMe's supports_inline_queries; without it a Telegram client never sends inline queries.
        self.inline_mode = inline_mode

        self.calls: list[ApiCall] = []
        self.violations: list[str] = []
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}

        self._chats: dict[int, ChatState] = {}
        self._faults: list[Fault] = []
        self._events: list[ChatEvent] = []
        self._callbacks: dict[str, CallbackQueryState] = {}
        self._inline_queries: dict[str, InlineQueryState] = {}
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

        self._updates_signal = Signal()
        self._changes = Signal()
        self._version = 0
        self._closing = False
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None


    def continue_updates_after(self, update_id: int) -> None:
        """Number the next updates after `update_id`, as Telegram's own ids keep growing across a bot's restarts.

        The desk remembers handled update ids (a redelivery must do nothing): a sandbox that started again at its
        first id would have its updates ignored as repeats after every restart on the same database."""
        self._update_seq = itertools.count(max(10_000, update_id + 1))

    def register_user(self, user: FakeUser, *, started: bool = True) -> None:
        """Make a user known to "Telegram". ``started=False``: the user never opened the bot,
        so the bot gets 403 "bot can't initiate conversation" when writing to them."""
        chat = self._chats.get(user.id)
        if chat is None:
            self._chats[user.id] = ChatState(user=user, started=started)
        else:
            chat.user = user
            chat.started = chat.started or started

    def user(self, user_id: int) -> FakeUser | None:
        chat = self._chats.get(user_id)
        return chat.user if chat else None

    @property
    def users(self) -> list[FakeUser]:
        return [chat.user for chat in self._chats.values()]

    def _chat_for_user(self, user: FakeUser) -> ChatState:
        self.register_user(user, started=False)
        return self._chats[user.id]

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

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

    def file(self, file_id: str) -> UploadedFile | None:
        return self._files.get(file_id)

    def reset(self) -> None:
        """Forget calls and violations (state such as chats and messages is kept)."""
        self.calls.clear()
        self.violations.clear()

    def _violation(self, message: str) -> None:
        self.violations.append(message)
        log.warning("fake Bot API violation: %s", message)

    def _bump(self) -> None:
        self._version += 1
        self._changes.notify()

    def _store(self, chat: ChatState, message: SentMessage) -> SentMessage:
        message.message_id = chat.next_id
        chat.next_id += 1
        chat.messages[message.message_id] = message
        if message.from_bot:
            self._events.append(ChatEvent("new", chat.user.id, message.message_id))
        self._bump()
        return message

    def _store_new(self, chat: ChatState, *, from_bot: bool, **fields: Any) -> SentMessage:
        """Stores a message sent into ``chat`` just now; ``fields`` are the SentMessage's content."""
        return self._store(
            chat, SentMessage(message_id=0, chat_id=chat.user.id, date=int(time.time()), from_bot=from_bot, **fields)
        )

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
        if message.thread_id is not None:
            data["message_thread_id"] = message.thread_id
            data["is_topic_message"] = True
        if message.via_bot:
            data["via_bot"] = self.bot_user()
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
            width, height = image_size(message.photo.data)
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
        return with_present(
            {"file_id": upload.file_id, "file_unique_id": upload.file_unique_id},
            file_name=upload.filename,
            mime_type=upload.content_type,
            file_size=upload.size,
        )

    @staticmethod
    def _file_path(upload: UploadedFile) -> str:
        suffix = Path(upload.filename or "").suffix
        return f"documents/file_{upload.file_id[4:8]}{suffix}"

    def topics_on(self, chat_id: int) -> bool:
        """Whether the private chat with this user runs in topic mode right now."""
        chat = self._chats.get(chat_id)
        if chat is None or chat.user.has_topics_enabled is None:
            return self.topics_enabled
        return chat.user.has_topics_enabled

    def _thread_for(self, chat: ChatState, params: Mapping[str, Any]) -> int | None:
        """The topic a call targets, checked as Telegram checks message_thread_id in a private chat."""
        raw = params.get("message_thread_id")
        if raw in (None, 0):
            return None
        thread_id = int(raw)
        topic = chat.topics.get(thread_id)
        if not self.topics_on(chat.user.id) or topic is None or topic.deleted:
            raise bad_request("message thread not found")
        return thread_id

    def _drop_topic(self, chat: ChatState, topic: Topic) -> None:
        # A topic goes with all its messages, as in Telegram.
        topic.deleted = True
        for message in chat.messages.values():
            if message.thread_id == topic.message_thread_id:
                message.deleted = True
        for key in [k for k in chat.drafts if k[0] == topic.message_thread_id]:
            del chat.drafts[key]
        self._bump()

    def _target_chat(self, chat_id: Any, *, sending: bool) -> ChatState:
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

    def _reply_target(self, chat: ChatState, params: Mapping[str, Any]) -> int | None:
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
