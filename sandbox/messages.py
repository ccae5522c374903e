"""Bot API methods that create and change messages: send*, edit*, delete*."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .model import ChatEvent, ChatState, SentMessage, TelegramError, UploadedFile, bad_request
from .state import FakeState
from .text import MAX_CAPTION, MAX_TEXT, format_text

log = logging.getLogger(__name__)


class MessageMethods(FakeState):
    """send*, edit* and delete* methods."""

    def _format(
        self, text: str, parse_mode: str | None, entities: Any, limit: int, *, caption: bool
    ) -> tuple[str, list[dict[str, Any]]]:
        formatted = format_text(text, parse_mode, entities, limit=limit, caption=caption)
        for warning in formatted.warnings:
            self._violation(warning)
        return formatted.text, formatted.entities

    def _bot_sends(self, chat: ChatState, params: dict[str, Any], **content: Any) -> SentMessage:
        """Stores a send* call's message with what every send* shares: markup, reply target, topic."""
        return self._store_new(
            chat,
            from_bot=True,
            reply_markup=params.get("reply_markup"),
            reply_to=self._reply_target(chat, params),
            thread_id=self._thread_for(chat, params),
            params=params,
            **content,
        )

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params["chat_id"], sending=True)
        raw_text = str(params["text"])
        text, entities = self._format(
            raw_text, params.get("parse_mode"), params.get("entities"), MAX_TEXT, caption=False
        )
        message = self._bot_sends(
            chat, params, text=text, raw_text=raw_text, parse_mode=params.get("parse_mode"), entities=entities
        )
        # The finished message replaces the draft the user was watching in that thread.
        for draft in chat.drafts.values():
            if draft.thread_id == message.thread_id:
                draft.done = True
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
        message = self._bot_sends(
            chat,
            params,
            caption=caption or None,
            raw_caption=str(raw_caption) if raw_caption else None,
            parse_mode=params.get("parse_mode"),
            entities=entities,
            document=upload if kind == "document" else None,
            photo=upload if kind == "photo" else None,
            kind=kind,
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
        message = self._bot_sends(
            chat,
            params,
            caption=caption,
            raw_caption=str(raw_caption) if raw_caption else None,
            entities=entities,
            kind=method,
            media=_media_fields(method, params),
        )
        return self._message_json(message)

    def _editable(self, params: Mapping[str, Any]) -> tuple[ChatState, SentMessage]:
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
        before = message.snapshot()
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
        self._events.append(ChatEvent("edit", message.chat_id, message.message_id))
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
