"""What tests and the sandbox page call to act as Telegram users: write, send files, press buttons."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from typing import Any

from .model import CallbackQueryState, FakeUser, SentMessage, UploadedFile
from .state import FakeState
from .tg_html import detect_entities

log = logging.getLogger(__name__)


class ActorAPI(FakeState):
    """The user side: each call queues the update Telegram would deliver to the bot."""

    async def block(self, user: FakeUser) -> None:
        """The user blocks the bot: later sends fail with 403, and the bot gets my_chat_member."""
        chat = self._chat_for_user(user)
        chat.blocked = True
        self._enqueue("my_chat_member", self._member_update(user, "member", "kicked"))

    async def unblock(self, user: FakeUser) -> None:
        chat = self._chat_for_user(user)
        chat.blocked = False
        self._enqueue("my_chat_member", self._member_update(user, "kicked", "member"))

    async def send_message(self, user: FakeUser, text: str, reply_to_message_id: int | None = None) -> dict[str, Any]:
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
        self._callbacks[cq_id] = CallbackQueryState(
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
            raise TimeoutError(f"callback query {cq_id} ({query.data!r}) not answered in {timeout}s") from None
        return dict(query.answer or {})

    def callback_answer(self, cq_id: str) -> dict[str, Any] | None:
        query = self._callbacks.get(cq_id)
        return dict(query.answer) if query and query.answer is not None else None
