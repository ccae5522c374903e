"""/online and /offline: the manager's shift."""

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import MenuAction, MenuCallback
from bot.i18n import _
from bot.middlewares import IsManager
from models import Manager
from support.service import SupportService


async def go_online(chat_id: int, bot: Bot, service: SupportService, manager: Manager) -> None:
    offered = await service.lifecycle.set_online(manager, True)
    text = _("🟢 Смена начата. Новые чаты будут приходить сюда.")
    if offered:
        text += "\n" + _("⏳ В очереди ждут клиенты: {count}. Предложения отправлены ниже.").format(count=len(offered))
    await bot.send_message(chat_id, text)


async def go_offline(chat_id: int, bot: Bot, service: SupportService, manager: Manager) -> None:
    await service.lifecycle.set_online(manager, False)
    active = await service.queries.active_chats(manager)
    text = _("🔴 Смена завершена. Новые чаты приходить не будут.")
    if active:
        text += "\n" + _("У вас остались открытые чаты: {count} — завершите их через /chats.").format(
            count=len(active))
    await bot.send_message(chat_id, text)


async def online(message: Message, bot: Bot, service: SupportService, manager: Manager) -> None:
    await go_online(message.chat.id, bot, service, manager)


async def offline(message: Message, bot: Bot, service: SupportService, manager: Manager) -> None:
    await go_offline(message.chat.id, bot, service, manager)


async def shift_button(
    query: CallbackQuery, callback_data: MenuCallback, bot: Bot, service: SupportService, manager: Manager
) -> None:
    await query.answer()
    assert query.from_user is not None
    if callback_data.action == MenuAction.ONLINE:
        await go_online(query.from_user.id, bot, service, manager)
    else:
        await go_offline(query.from_user.id, bot, service, manager)


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="shift")
    router.message.filter(IsManager())
    router.callback_query.filter(IsManager())
    router.message.register(online, Command("online"))
    router.message.register(offline, Command("offline"))
    router.callback_query.register(
        shift_button, MenuCallback.filter(F.action.in_({MenuAction.ONLINE, MenuAction.OFFLINE}))
    )
    return router
