"""The manager's side of the AI co-pilot: send, edit or dismiss a suggestion, and their own on/off switch."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.callbacks import CopilotAction, CopilotCallback, MenuAction, MenuCallback
from bot.i18n import N_, _
from bot.middlewares import IsManager
from bot.render import menu_keyboard
from bot.states import ReplyMode
from models import Manager, SuggestionStatus
from support.copilot import SuggestionDecided
from support.markdown import markdown_to_plain
from support.service import SupportService

ALREADY = {SuggestionStatus.SENT: N_("Эта подсказка уже отправлена клиенту."),
           SuggestionStatus.DISMISSED: N_("Эта подсказка уже скрыта.")}
HANDLED = N_("Подсказка уже обработана.")


async def send(query: CallbackQuery, callback_data: CopilotCallback, service: SupportService, manager: Manager) -> None:
    try:
        suggestion, _message = await service.copilot.send(manager, callback_data.suggestion_id)
    except SuggestionDecided as decided:
        await query.answer(_(ALREADY.get(decided.status, HANDLED)), show_alert=True)
        return
    await query.answer(_("✅ Отправлено клиенту"))
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _("✅ <b>Отправлено клиенту</b> · чат #{chat_id}").format(chat_id=suggestion.support_chat_id)
            + f"\n\n{escape(markdown_to_plain(suggestion.text))}")


async def dismiss(
    query: CallbackQuery, callback_data: CopilotCallback, service: SupportService, manager: Manager
) -> None:
    try:
        suggestion = await service.copilot.dismiss(manager, callback_data.suggestion_id)
    except SuggestionDecided as decided:
        await query.answer(_(ALREADY.get(decided.status, HANDLED)), show_alert=True)
        return
    await query.answer(_("Подсказка скрыта"))
    if isinstance(query.message, Message):
        await query.message.edit_text(_("✖ <i>Подсказка ИИ к чату #{chat_id} скрыта.</i>").format(
            chat_id=suggestion.support_chat_id))


async def edit_by_hand(
    query: CallbackQuery, callback_data: CopilotCallback, service: SupportService, manager: Manager,
    state: FSMContext,
) -> None:
    """Without inline mode (or for a text too long for it): the text to copy, and reply mode for its chat."""
    suggestion = await service.copilot.suggestion_of(manager, callback_data.suggestion_id)
    chat_id = suggestion.support_chat_id
    await query.answer()
    await state.set_state(ReplyMode.active)
    await state.update_data(chat_id=chat_id)
    assert query.bot is not None
    # Pressed in the chat's topic: the text to copy goes there too (what is sent in a topic reaches its client).
    thread_id = (query.message.message_thread_id
                 if isinstance(query.message, Message) and query.message.is_topic_message else None)
    await query.bot.send_message(
        manager.telegram_id,
        _("✏️ Нажмите на текст, чтобы скопировать, поправьте и отправьте — режим ответа в чат #{chat_id} включён "
          "(/cancel — выйти).").format(chat_id=chat_id)
        + f"\n\n<pre>{escape(markdown_to_plain(suggestion.text))}</pre>",
        message_thread_id=thread_id)


async def toggle(query: CallbackQuery, service: SupportService, manager: Manager, is_admin: bool) -> None:
    if not service.policy.copilot:
        await query.answer(_("Подсказки ИИ выключены для всей поддержки в настройках."), show_alert=True)
        return
    await service.copilot.set_enabled(manager, not manager.copilot_enabled)
    await query.answer(_("💡 Подсказки ИИ включены") if manager.copilot_enabled else _("Подсказки ИИ выключены"))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=menu_keyboard(
            online=manager.is_online, admin=is_admin, copilot=manager.copilot_enabled))


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="copilot")
    router.callback_query.filter(IsManager())
    router.callback_query.register(send, CopilotCallback.filter(F.action == CopilotAction.SEND))
    router.callback_query.register(dismiss, CopilotCallback.filter(F.action == CopilotAction.DISMISS))
    router.callback_query.register(edit_by_hand, CopilotCallback.filter(F.action == CopilotAction.EDIT))
    router.callback_query.register(toggle, MenuCallback.filter(F.action == MenuAction.COPILOT))
    return router
