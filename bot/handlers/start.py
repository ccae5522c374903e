"""/start (registration and the main menu), /help and /cancel."""

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.callbacks import MenuAction, MenuCallback
from bot.handlers.fallback import no_access_text
from bot.i18n import _
from bot.middlewares import IsManager
from bot.render import menu_keyboard
from core.i18n import N_
from models import Manager
from support.service import SupportService

HELP = N_(
    "ℹ️ <b>Как работать</b>\n"
    "/online — начать смену: вам будут приходить новые чаты\n"
    "/offline — завершить смену\n"
    "/chats — ваши активные чаты\n"
    "/cancel — выйти из режима ответа\n\n"
    "Новый чат приходит с кнопками «✅ Принять чат» и «📋 Подробности». После принятия нажмите "
    "«💬 Ответить» — и все ваши сообщения пойдут клиенту, пока не нажмёте /cancel. Можно и просто "
    "ответить (reply) на сообщение клиента."
)


def menu_text(manager: Manager) -> str:
    shift = _("🟢 вы на смене") if manager.is_online else _("🔴 смена не начата")
    return _("👋 {name}, это рабочее место менеджера ILPO-TAXI.\nСтатус: {shift}.").format(
        name=escape(manager.display_name), shift=shift) + "\n\n" + _(HELP)


async def start(message: Message, service: SupportService, is_admin: bool) -> None:
    user = message.from_user
    assert user is not None
    manager = await service.team.register_manager(user.id, name=user.full_name, username=user.username)
    if manager is None:
        await message.answer(no_access_text(message))
        return
    copilot = manager.copilot_enabled if service.policy.copilot else None
    await message.answer(menu_text(manager), reply_markup=menu_keyboard(online=manager.is_online, admin=is_admin,
                                                                        copilot=copilot))


async def help_(message: Message) -> None:
    await message.answer(_(HELP))


async def cancel(message: Message, state: FSMContext) -> None:
    current = await state.get_state()
    await state.clear()
    if current is None:
        await message.answer(_("Нечего отменять: вы не в режиме ответа."))
    else:
        await message.answer(_("↩️ Режим ответа выключен. Сообщения больше не уходят клиенту."))


async def menu_chats(query: CallbackQuery, service: SupportService, manager: Manager) -> None:
    from bot.handlers.chats import send_chat_list

    await query.answer()
    if query.message is not None:
        await send_chat_list(query.message.chat.id, query.bot, service, manager)


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"), IsManager())
    router.message.register(cancel, Command("cancel"), IsManager())
    router.callback_query.register(menu_chats, MenuCallback.filter(F.action == MenuAction.CHATS), IsManager())
    return router
