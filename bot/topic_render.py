"""How a chat's topic looks in a manager's private chat with the bot: its name calls, its card, its notices."""

from __future__ import annotations

import datetime as dt
import re
from html import escape

from aiogram.types import InlineKeyboardMarkup

from bot.i18n import _, ngettext
from bot.render import assigned_keyboard, card_text, client_label, colleague_keyboard, status_label
from models import ChatStatus
from support.contracts import ChatCard
from support.localtime import default_zone
from support.outbox import OutgoingCall
from support.topics import GUEST, TopicView


def _markup(markup: InlineKeyboardMarkup | None) -> dict | None:
    return markup.model_dump(mode="json", exclude_none=True) if markup else None


# support.topics names topics in Russian (the stored name carries the status marker it is read back from); the
# two words in it are shown in the manager's language.
_LATE = re.compile(r"^⏰ (\d+) мин · ")
_GUEST = re.compile("^" + re.escape(GUEST).replace(re.escape("{chat_id}"), r"(\d+)") + "$")


def display_name(name: str) -> str:
    """A topic's stored name («⏰ 12 мин · Гость #5») as the manager reads it («⏰ 12 min · Guest #5»)."""
    prefix = ""
    if late := _LATE.match(name):
        minutes = int(late.group(1))
        prefix = "⏰ " + ngettext("{minutes} мин ·", "{minutes} мин ·", minutes).format(minutes=minutes) + " "
        name = name[late.end():]
    else:
        marker, space, rest = name.partition(" ")
        if space and _GUEST.match(rest):
            prefix, name = marker + " ", rest
    if guest := _GUEST.match(name):
        name = _(GUEST).format(chat_id=guest.group(1))
    return prefix + name


def topic_card_text(card: ChatCard, view: TopicView, zone: dt.tzinfo) -> str:
    lines = [card_text(card, zone).replace("🆕", "🗂", 1), "",
             _("📌 Статус: {status}").format(status=status_label(card.status)),
             _("🧑‍💼 Менеджер: {manager}").format(
                 manager=escape(card.manager_name) if card.manager_name else _("не назначен"))]
    if view.handed_to:
        lines.append(_("↪️ Чат передан: {colleague}. Сообщения клиента теперь приходят ему(ей).").format(
            colleague=escape(view.handed_to)))
    if view.rating:
        lines.append(_("⭐️ Оценка клиента: {rating}/5").format(rating=view.rating) + (
            f" — «{escape(view.rating_comment)}»" if view.rating_comment else ""))
    if card.status == ChatStatus.ASSIGNED and not view.handed_to:
        lines += ["", _("✍️ Пишите прямо в эту тему — всё уйдёт этому клиенту.")]
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
        return OutgoingCall(telegram_id, "createForumTopic", {"chat_id": telegram_id, "name": display_name(name)},
                            purpose="topic")

    def rename(self, telegram_id: int, name: str) -> OutgoingCall:
        # message_thread_id is filled in by the outbox when it is known.
        return OutgoingCall(telegram_id, "editForumTopic", {"chat_id": telegram_id, "name": display_name(name)},
                            purpose="topic")

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
        text = _("♻️ Прежняя тема чата #{chat_id} удалена — продолжаем здесь. "
                 "Сообщения клиента {client} приходят в эту тему.").format(chat_id=card.chat_id,
                                                                          client=client_label(card))
        return OutgoingCall(telegram_id, "sendMessage", {"chat_id": telegram_id, "text": text, "parse_mode": "HTML"},
                            purpose="notice", support_chat_id=card.chat_id)

    def went_flat(self, card: ChatCard, telegram_id: int) -> OutgoingCall:
        text = _("⚠️ Тема чата #{chat_id} ({client}) недоступна. Сообщения этого клиента теперь приходят сюда, "
                 "в общий чат: отвечайте через «💬 Ответить» или ответом (reply) на его сообщение.").format(
            chat_id=card.chat_id, client=client_label(card))
        return OutgoingCall(telegram_id, "sendMessage", {"chat_id": telegram_id, "text": text, "parse_mode": "HTML"},
                            purpose="topic_notice", support_chat_id=card.chat_id)
