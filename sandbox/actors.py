"""What tests and the sandbox page call to act as Telegram users: write, send files, press buttons."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any

from .model import (
    CallbackQueryState,
    ChatState,
    FakeUser,
    InlineQueryState,
    UploadedFile,
)
from .state import FakeState
from .text import format_text
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

    async def send_message(
        self, user: FakeUser, text: str, reply_to_message_id: int | None = None, *, thread_id: int | None = None
    ) -> dict[str, Any]:
        """The user writes ``text`` to the bot (in topic ``thread_id`` if given); returns the Message the bot gets."""
        chat = self._chat_for_user(user)
        chat.started = True
        chat.blocked = False
        self._user_thread(chat, thread_id)
        return self._user_sends(
            chat,
            text=text,
            raw_text=text,
            entities=detect_entities(text),
            reply_to=reply_to_message_id,
            thread_id=thread_id,
        )

    async def send_document(
        self,
        user: FakeUser,
        filename: str,
        data: bytes,
        caption: str | None = None,
        content_type: str = "application/octet-stream",
        *,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a file; the bot can fetch it with getFile + the file URL."""
        chat = self._chat_for_user(user)
        chat.started = True
        self._user_thread(chat, thread_id)
        upload = self._remember_file(UploadedFile(filename, data, content_type))
        return self._user_sends(
            chat, caption=caption, raw_caption=caption, document=upload, kind="document", thread_id=thread_id
        )

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
        return self._user_sends(chat, text=body, raw_text=body, entities=detect_entities(body), forward_from=origin)

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
            id=cq_id, user_id=user.id, chat_id=user.id, message_id=message_id, data=str(chosen["callback_data"])
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
        if query is None:
            raise LookupError(f"unknown callback query {cq_id}")
        return await query.wait(f"callback query {cq_id} ({query.data!r})", timeout)

    def callback_answer(self, cq_id: str) -> dict[str, Any] | None:
        query = self._callbacks.get(cq_id)
        return dict(query.answer) if query and query.answer is not None else None

    # ---------------------------------------------------------------- topics, edits, inline mode

    def _user_thread(self, chat: ChatState, thread_id: int | None) -> None:
        if thread_id is None:
            return
        topic = chat.topics.get(thread_id)
        if not self.topics_on(chat.user.id) or topic is None or topic.deleted:
            raise LookupError(f"no topic {thread_id} in chat {chat.user.id} (deleted, or topic mode is off)")

    def set_topics_enabled(self, user: FakeUser, enabled: bool | None) -> None:
        """Switch topic mode for this user's chat (``None``: follow the bot's has_topics_enabled).

        Existing topics stay, but while it is off every call naming them fails as Telegram's do.
        """
        self._chat_for_user(user).user.has_topics_enabled = enabled
        self._bump()

    async def delete_topic(self, user: FakeUser, thread_id: int) -> None:
        """The user deletes a topic in their chat with the bot, and every message in it."""
        chat = self._chat_for_user(user)
        self._user_thread(chat, thread_id)
        self._drop_topic(chat, chat.topics[thread_id])

    async def edit_message(self, user: FakeUser, message_id: int, text: str) -> dict[str, Any]:
        """The user edits a text message they sent; the bot gets an ``edited_message`` update."""
        chat = self._chat_for_user(user)
        message = chat.messages.get(message_id)
        if message is None or message.deleted or message.from_bot or message.text is None:
            raise LookupError(f"no text message {message_id} of user {user.id} to edit")
        if not text.strip():
            raise ValueError("an edit cannot empty the message")
        message.history.append(message.snapshot())
        message.text = message.raw_text = text
        message.entities = detect_entities(text)
        message.edit_date = int(time.time())
        edited = self._message_json(message)
        self._enqueue("edited_message", edited)
        return edited

    async def inline_query(self, user: FakeUser, query: str, offset: str = "") -> str:
        """The user types ``@bot query`` in the chat with the bot; returns the inline query id."""
        if not self.inline_mode:
            raise RuntimeError("inline mode is off for this bot (FakeBotAPI(inline_mode=True))")
        if len(query) > 256:
            raise ValueError("inline queries are at most 256 characters")
        query_id = str(secrets.randbits(63))
        self._inline_queries[query_id] = InlineQueryState(query_id, user.id, query, offset)
        payload = {"id": query_id, "from": user.to_api(), "query": query, "offset": offset, "chat_type": "sender"}
        self._enqueue("inline_query", payload)
        return query_id

    async def wait_inline_answer(self, query_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The answerInlineQuery params (results, is_personal, cache_time...) for that query."""
        state = self._inline_queries.get(query_id)
        if state is None:
            raise LookupError(f"unknown inline query {query_id}")
        return await state.wait(f"inline query {query_id} ({state.query!r})", timeout)

    async def choose_inline_result(
        self, user: FakeUser, query_id: str, result_id: str, *, thread_id: int | None = None
    ) -> dict[str, Any]:
        """The user taps a result: it is sent into their chat with the bot (via the bot) and the bot gets
        that message, then a ``chosen_inline_result``. Only article results with text are modelled."""
        state = self._inline_queries.get(query_id)
        if state is None or state.user_id != user.id:
            raise LookupError(f"no inline query {query_id} of user {user.id}")  # only its author sees the results
        if state.answer is None:
            raise LookupError(f"inline query {query_id} has no answer to choose from")
        result = next((r for r in state.answer["results"] if str(r.get("id")) == result_id), None)
        if result is None:
            raise LookupError(f"no result {result_id!r}; results: {[r.get('id') for r in state.answer['results']]}")
        content = result.get("input_message_content") or {}
        if "message_text" not in content:
            raise ValueError(f"result {result_id!r} has no text to send (only text contents are modelled)")
        formatted = format_text(str(content["message_text"]), content.get("parse_mode"), content.get("entities"))
        chat = self._chat_for_user(user)
        self._user_thread(chat, thread_id)
        message = self._user_sends(
            chat,
            text=formatted.text,
            raw_text=str(content["message_text"]),
            entities=formatted.entities,
            reply_markup=result.get("reply_markup"),
            thread_id=thread_id,
            via_bot=True,
        )
        self._enqueue("chosen_inline_result", {"result_id": result_id, "from": user.to_api(), "query": state.query})
        return message

    def _user_sends(self, chat: ChatState, **fields: Any) -> dict[str, Any]:
        """Stores what the user sent into ``chat`` and queues the ``message`` update the bot gets for it."""
        message = self._message_json(self._store_new(chat, from_bot=False, **fields))
        self._enqueue("message", message)
        return message

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
