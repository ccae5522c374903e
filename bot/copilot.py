"""How the AI co-pilot looks in a manager's Telegram (support.copilot.CopilotView): the brief on accept, drafts
streamed with sendMessageDraft, and the suggestion with its three buttons."""

from __future__ import annotations

import logging
import time
from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNotFound
from aiogram.types import CopyTextButton, InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import CopilotAction, CopilotCallback
from bot.i18n import N_, _
from bot.render import client_label
from models import CopilotSuggestion
from support.contracts import ChatCard
from support.markdown import markdown_to_plain
from support.outbox import OutgoingCall

log = logging.getLogger(__name__)

INLINE_QUERY_LIMIT = 256  # Telegram's limit for an inline query, and for a copy_text button's text
ME_TTL_SECONDS = 300
NOT_SENT_YET = N_("<i>Клиент её не видит, пока вы не нажмёте «✅ Отправить».</i>")


def chat_query(chat_id: int, text: str = "") -> str:
    """The inline query that names a chat: «@bot #12 what was typed» (bot/handlers/templates.py reads it)."""
    return f"#{chat_id} {text}"


def suggestion_text(card: ChatCard, text: str) -> str:
    head = _("💡 <b>Подсказка ИИ</b> · {client} · чат #{chat_id}").format(client=client_label(card),
                                                                         chat_id=card.chat_id)
    return f"{head}\n\n{escape(text)}\n\n{_(NOT_SENT_YET)}"


def suggestion_keyboard(card: ChatCard, suggestion_id: int, text: str, *, inline: bool) -> InlineKeyboardMarkup:
    """«✅ Отправить» «✏️ Изменить» «✖». Изменить puts the text into the manager's input when the bot has inline
    mode and the text fits an inline query; else a copy button; else the bot sends it to copy by hand."""
    def button(label: str, action: CopilotAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=label, callback_data=CopilotCallback(
            action=action, suggestion_id=suggestion_id).pack())

    query = chat_query(card.chat_id, text)
    if inline and len(query) <= INLINE_QUERY_LIMIT:
        edit = InlineKeyboardButton(text=_("✏️ Изменить"), switch_inline_query_current_chat=query)
    elif len(text) <= INLINE_QUERY_LIMIT:
        edit = InlineKeyboardButton(text=_("✏️ Изменить"), copy_text=CopyTextButton(text=text))
    else:
        edit = button(_("✏️ Изменить"), CopilotAction.EDIT)
    return InlineKeyboardMarkup(inline_keyboard=[[button(_("✅ Отправить"), CopilotAction.SEND), edit,
                                                  button("✖", CopilotAction.DISMISS)]])


def _message(chat_id: int, text: str, markup: InlineKeyboardMarkup | None, *, purpose: str,
             card: ChatCard) -> OutgoingCall:
    params: dict[str, object] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}
    if markup is not None:
        params["reply_markup"] = markup.model_dump(mode="json", exclude_none=True)
    # Tied to the chat: a manager's reply (quote) to it answers this chat's client.
    return OutgoingCall(chat_id=chat_id, method="sendMessage", params=params, purpose=purpose,
                        support_chat_id=card.chat_id)


class TelegramCopilotView:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._drafts = True
        self._inline: tuple[float, bool] | None = None

    def brief(self, card: ChatCard, manager_telegram_id: int, text: str) -> OutgoingCall:
        body = _("🧭 <b>Коротко о чате #{chat_id}</b> · {client}").format(
            chat_id=card.chat_id, client=client_label(card)) + f"\n{escape(text)}"
        return _message(manager_telegram_id, body, None, purpose="copilot_brief", card=card)

    def suggestion(
        self, card: ChatCard, manager_telegram_id: int, suggestion: CopilotSuggestion, *, inline: bool
    ) -> OutgoingCall:
        plain = markdown_to_plain(suggestion.text)
        return _message(manager_telegram_id, suggestion_text(card, plain),
                        suggestion_keyboard(card, suggestion.id, plain, inline=inline), purpose="copilot", card=card)

    async def inline_mode(self) -> bool:
        """getMe's supports_inline_queries, asked again every few minutes (BotFather's /setinline may change)."""
        now = time.monotonic()
        if self._inline is None or now - self._inline[0] > ME_TTL_SECONDS:
            try:
                me = await self.bot.get_me()
            except TelegramAPIError as error:
                log.info("getMe failed, assuming no inline mode: %s", error)
                return False
            self._inline = (now, bool(me.supports_inline_queries))
        return self._inline[1]

    async def frame(self, manager_telegram_id: int, draft_id: int, text: str, thread_id: int | None = None) -> bool:
        if not self._drafts:
            return False
        try:
            await self.bot.send_message_draft(manager_telegram_id, draft_id=draft_id, text=escape(text),
                                              message_thread_id=thread_id)
        except TelegramNotFound:
            log.info("This Bot API server has no sendMessageDraft: co-pilot suggestions arrive as messages only")
            self._drafts = False
            return False
        except TelegramAPIError as error:
            log.info("Draft %s for %s not shown: %s", draft_id, manager_telegram_id, error)
            return False
        return True
