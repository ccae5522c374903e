"""Private-chat forum topics (Bot API 10.1), drafts and chat actions, and how tests read them.

A bot with topic mode on (getMe's has_topics_enabled) can run topics inside its private chat
with a user: createForumTopic / editForumTopic / deleteForumTopic, message_thread_id on sends,
drafts and chat actions. A topic's id is a message id of that chat, as in Telegram. The user may
delete a topic or switch topic mode off; calls naming such a thread then fail as Telegram's do.
"""

from __future__ import annotations

import time
from typing import Any

from .model import ChatAction, ChatState, Draft, SentMessage, Topic, bad_request
from .state import FakeState
from .text import format_text

# createForumTopic's icon_color must be one of these (api.json); Telegram picks the first by default.
ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
MAX_TOPIC_NAME = 128
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


class TopicMethods(FakeState):
    """Topic, draft and chat-action methods, plus the read side tests use for them."""

    # ---------------------------------------------------------------- reading

    def topics(self, chat_id: int, *, include_deleted: bool = False) -> list[Topic]:
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [t for t in chat.topics.values() if include_deleted or not t.deleted]

    def topic(self, chat_id: int, thread_id: int) -> Topic | None:
        chat = self._chats.get(chat_id)
        return chat.topics.get(thread_id) if chat else None

    def thread(self, chat_id: int, thread_id: int | None, include_deleted: bool = False) -> list[SentMessage]:
        """Both sides of one topic (``None``: the general thread), in order."""
        return [m for m in self.transcript(chat_id, include_deleted) if m.thread_id == thread_id]

    def drafts(self, chat_id: int) -> list[Draft]:
        chat = self._chats.get(chat_id)
        return list(chat.drafts.values()) if chat else []

    def chat_actions(self, chat_id: int, thread_id: int | None = None, *, any_thread: bool = False) -> list[ChatAction]:
        """sendChatAction calls for the chat, for one thread unless ``any_thread``."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [a for a in chat.actions if any_thread or a.thread_id == thread_id]

    # ---------------------------------------------------------------- methods

    def _forum_chat(self, params: dict[str, Any]) -> ChatState:
        chat = self._target_chat(params["chat_id"], sending=True)
        if not self.topics_on(chat.user.id):
            raise bad_request("the chat is not a forum")
        return chat

    def _live_topic(self, chat: ChatState, params: dict[str, Any]) -> Topic:
        topic = chat.topics.get(int(params["message_thread_id"]))
        if topic is None or topic.deleted:
            raise bad_request("TOPIC_ID_INVALID")
        return topic

    def _check_topic_name(self, name: str) -> None:
        if len(name) > MAX_TOPIC_NAME:
            raise bad_request("TOPIC_NAME_INVALID")

    async def _m_createForumTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._forum_chat(params)
        name = str(params["name"])
        self._check_topic_name(name)
        color = int(params.get("icon_color") or ICON_COLORS[0])
        if color not in ICON_COLORS:
            self._violation(f"createForumTopic: icon_color {color} is not one of {ICON_COLORS}")
        thread_id = chat.next_id
        chat.next_id += 1
        topic = Topic(thread_id, name, color, params.get("icon_custom_emoji_id") or None)
        chat.topics[thread_id] = topic
        self._bump()
        return topic.to_api()

    async def _m_editForumTopic(self, params: dict[str, Any]) -> bool:
        chat = self._forum_chat(params)
        topic = self._live_topic(chat, params)
        name = str(params.get("name") or "") or topic.name
        self._check_topic_name(name)
        emoji = params.get("icon_custom_emoji_id", topic.icon_custom_emoji_id)
        emoji = str(emoji) if emoji else None
        if (name, emoji) == (topic.name, topic.icon_custom_emoji_id):
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.name, topic.icon_custom_emoji_id = name, emoji
        self._bump()
        return True

    async def _m_deleteForumTopic(self, params: dict[str, Any]) -> bool:
        chat = self._forum_chat(params)
        topic = self._live_topic(chat, params)
        self._drop_topic(chat, topic)
        return True

    async def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params["chat_id"], sending=True)
        if params["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        thread_id = self._thread_for(chat, params)
        chat.actions.append(ChatAction(str(params["action"]), thread_id, time.time()))
        self._bump()
        return True

    async def _m_sendMessageDraft(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params["chat_id"], sending=True)
        thread_id = self._thread_for(chat, params)
        draft_id = int(params["draft_id"])
        if draft_id == 0:
            raise bad_request("DRAFT_ID_INVALID")
        formatted = format_text(
            str(params.get("text") or ""), params.get("parse_mode"), params.get("entities"), allow_empty=True
        )
        for warning in formatted.warnings:
            self._violation(warning)
        draft = chat.drafts.get((thread_id, draft_id))
        if draft is None:
            draft = chat.drafts[(thread_id, draft_id)] = Draft(draft_id, thread_id, "", [])
        draft.text, draft.entities, draft.time = formatted.text, formatted.entities, time.time()
        draft.done = False
        draft.frames.append(formatted.text)
        self._bump()
        return True
