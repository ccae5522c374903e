"""Whatever no other router took: strangers are told politely how to get access; nothing changes."""

from html import escape

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.i18n import N_, _
from models import Manager

NO_ACCESS = N_(
    "👋 Здравствуйте{name}! Это рабочий бот менеджеров поддержки ILPO-TAXI.\n\n"
    "У вас пока нет доступа. Чтобы стать менеджером, передайте администратору ваш Telegram ID: "
    "<code>{telegram_id}</code>\n\n"
    "Если вы хотите стать водителем — напишите нам на сайте, в чате ИИ-консультанта."
)


def no_access_text(message: Message) -> str:
    user = message.from_user
    name = f", {escape(user.first_name)}" if user and user.first_name else ""
    return _(NO_ACCESS).format(name=name, telegram_id=user.id if user else "?")


async def anything_else(message: Message, manager: Manager | None) -> None:
    if manager is None:
        await message.answer(no_access_text(message))
        return
    await message.answer(_(
        "Не понял команду. Чтобы ответить клиенту, нажмите «💬 Ответить» у его чата или ответьте (reply) "
        "на его сообщение. Команды: /online, /offline, /chats, /cancel."
    ))


async def foreign_button(query: CallbackQuery, manager: Manager | None) -> None:
    if manager is None:
        await query.answer(_("⛔ Нет доступа: эта кнопка только для менеджеров ILPO-TAXI."), show_alert=True)
    else:
        await query.answer(_("Эта кнопка больше не действует."), show_alert=True)


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="fallback")
    router.message.register(anything_else)
    router.callback_query.register(foreign_button)
    return router
