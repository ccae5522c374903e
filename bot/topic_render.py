"""How a chat's topic looks in a manager's private chat with the bot: its name calls, its card, its notices."""

from __future__ import annotations

import datetime as dt
from html import escape

from aiogram.types import InlineKeyboardMarkup

from bot.render import assigned_keyboard, card_text, client_label, colleague_keyboard, status_label
from models import ChatStatus
from support.contracts import ChatCard
from support.localtime import default_zone
from support.outbox import OutgoingCall
from support.topics import TopicView


def _markup(markup: InlineKeyboardMarkup | None) -> dict | None:
    return markup.model_dump(mode="json", exclude_none=True) if markup else None


def topic_card_text(card: ChatCard, view: TopicView, zone: dt.tzinfo) -> str:
    lines = [card_text(card, zone).replace("🆕", "🗂", 1), "", f"📌 Статус: {status_label(card.status)}",
             f"🧑‍💼 Менеджер: {escape(card.manager_name) if card.manager_name else 'не назначен'}"]
    if view.handed_to:
        lines.append(f"↪️ Чат передан: {escape(view.handed_to)}. Сообщения клиента теперь приходят ему(ей).")
    if view.rating:
        lines.append(f"⭐️ Оценка клиента: {view.rating}/5" + (
            f" — «{escape(view.rating_comment)}»" if view.rating_comment else ""))
    if card.status == ChatStatus.ASSIGNED and not view.handed_to:
        lines += ["", "✍️ Пишите прямо в эту тему — всё уйдёт этому клиенту."]
    return "\n".join(lines)


def topic_card_markup(card: ChatCard, view: TopicView) -> InlineKeyboardMarkup | None:
    if card.status != ChatStatus.ASSIGNED or view.handed_to:
        return None
    return assigned_keyboard(card) if view.owner else colleague_keyboard(card)


class TelegramTopicChannel:
    """support.topics.TopicChannel for Telegram."""

    def __init__(self, zone: dt.tzinfo | None = None) -> None:
        self.zone = zone or default_zone()  # the desk's [support] timezone, as in TelegramManagerChannel

    def create(self, telegram_id: int, name: str) -> OutgoingCall:
        return OutgoingCall(telegram_id, "createForumTopic", {"chat_id": telegram_id, "name": name},
                            purpose="topic")

    def rename(self, telegram_id: int, name: str) -> OutgoingCall:
        # message_thread_id is filled in by the outbox when it is known.
        return OutgoingCall(telegram_id, "editForumTopic", {"chat_id": telegram_id, "name": name}, purpose="topic")

    def delete(self, telegram_id: int) -> OutgoingCall:
        return OutgoingCall(telegram_id, "deleteForumTopic", {"chat_id": telegram_id}, purpose="topic")

    def card(self, card: ChatCard, telegram_id: int, view: TopicView) -> OutgoingCall:
        params: dict = {"chat_id": telegram_id, "text": topic_card_text(card, view, self.zone), "parse_mode": "HTML"}
        markup = topic_card_markup(card, view)
        if markup is not None:
            params["reply_markup"] = _markup(markup)
        return OutgoingCall(telegram_id, "sendMessage", params, purpose="topic_card", support_chat_id=card.chat_id)

    def card_update(self, card: ChatCard, telegram_id: int, card_outbox_id: int, view: TopicView) -> OutgoingCall:
        params: dict = {"chat_id": telegram_id, "text": topic_card_text(card, view, self.zone), "parse_mode": "HTML"}
        markup = topic_card_markup(card, view)
        if markup is not None:
            params["reply_markup"] = _markup(markup)
        return OutgoingCall(telegram_id, "editMessageText", params, purpose="topic_card_update",
                            support_chat_id=card.chat_id, edits_outbox_id=card_outbox_id)

    def recreated(self, card: ChatCard, telegram_id: int) -> OutgoingCall:
        text = (f"♻️ Прежняя тема чата #{card.chat_id} удалена — продолжаем здесь. "
                f"Сообщения клиента {client_label(card)} приходят в эту тему.")
        return OutgoingCall(telegram_id, "sendMessage", {"chat_id": telegram_id, "text": text, "parse_mode": "HTML"},
                            purpose="notice", support_chat_id=card.chat_id)

    def went_flat(self, card: ChatCard, telegram_id: int) -> OutgoingCall:
        text = (f"⚠️ Тема чата #{card.chat_id} ({client_label(card)}) недоступна. Сообщения этого клиента теперь "
                "приходят сюда, в общий чат: отвечайте через «💬 Ответить» или ответом (reply) на его сообщение.")
        return OutgoingCall(telegram_id, "sendMessage", {"chat_id": telegram_id, "text": text, "parse_mode": "HTML"},
                            purpose="topic_notice", support_chat_id=card.chat_id)
