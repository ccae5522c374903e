"""Bot API methods about the bot and its chats: getMe, commands, callback answers, chat info, files."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from .model import FakeUser, PendingQuery, bad_request
from .state import FakeState
from .text import format_text
from .transport import check_reply_markup

log = logging.getLogger(__name__)

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


_Query = TypeVar("_Query", bound=PendingQuery)


def _unanswered(queries: Mapping[str, _Query], query_id: Any) -> _Query:
    """The query an answer* call names, if the bot has not answered it yet."""
    query = queries.get(str(query_id))
    if query is None or query.answer is not None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    return query


class BotMethods(FakeState):
    """getMe, commands, callback answers, chat actions, getChat, getChatMember, getFile."""

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": self.inline_mode,
            "can_connect_to_business": False,
            "has_main_web_app": False,
            "has_topics_enabled": self.topics_enabled,
            "allows_users_to_create_topics": False,
        }

    async def _m_logOut(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query = _unanswered(self._callbacks, params["callback_query_id"])
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.resolve(
            {
                "text": text,
                "show_alert": bool(params.get("show_alert", False)),
                "url": params.get("url"),
                "cache_time": params.get("cache_time"),
            }
        )
        self._bump()
        return True

    async def _m_answerInlineQuery(self, params: dict[str, Any]) -> bool:
        query = _unanswered(self._inline_queries, params["inline_query_id"])
        results = params["results"]
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > 50:
            raise bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or not result.get("type"):
                raise bad_request("can't parse InlineQueryResult JSON object")
            result_id = str(result.get("id") or "")
            if not 1 <= len(result_id.encode()) <= 64:
                raise bad_request("RESULT_ID_INVALID")
            if result_id in seen:
                raise bad_request("RESULT_ID_DUPLICATE")
            seen.add(result_id)
            content = result.get("input_message_content")
            if isinstance(content, dict) and "message_text" in content:
                format_text(str(content["message_text"]), content.get("parse_mode"), content.get("entities"))
            if isinstance(result.get("reply_markup"), dict):
                check_reply_markup(result["reply_markup"])
        query.resolve(
            {
                "results": results,
                "cache_time": params.get("cache_time"),
                "is_personal": bool(params.get("is_personal", False)),
                "next_offset": params.get("next_offset"),
                "button": params.get("button"),
            }
        )
        self._bump()
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
