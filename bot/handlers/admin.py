"""/admin: the team at a glance (managers with status and load, the queue)."""

from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import AdminAction, AdminCallback, ChatAction, ChatCallback, MenuAction, MenuCallback
from bot.middlewares import IsAdmin
from bot.render import client_label
from support.service import SupportService


def admin_menu():  # type: ignore[no-untyped-def]
    builder = InlineKeyboardBuilder()
    builder.button(text="👥 Управление менеджерами", callback_data=AdminCallback(action=AdminAction.MANAGERS))
    builder.button(text="⏳ Очередь", callback_data=AdminCallback(action=AdminAction.QUEUE))
    builder.adjust(1)
    return builder.as_markup()


async def admin(message: Message) -> None:
    await message.answer("⚙️ <b>Админ-меню</b>", reply_markup=admin_menu())


async def admin_from_menu(query: CallbackQuery) -> None:
    await query.answer()
    if query.message is not None:
        await query.message.answer("⚙️ <b>Админ-меню</b>", reply_markup=admin_menu())


async def managers(query: CallbackQuery, service: SupportService) -> None:
    team = await service.team_overview()
    await query.answer()
    if not team:
        text = "👥 Менеджеров пока нет. Добавьте их Telegram ID в MANAGER_IDS — и пусть отправят боту /start."
    else:
        lines = [f"👥 <b>Менеджеры ({len(team)})</b>", ""]
        for row in team:
            status = "🟢 онлайн" if row.online else "⚪️ офлайн"
            if not row.active:
                status = "⛔ отключён"
            role = " · админ" if row.admin else ""
            lines.append(f"{status} <b>{escape(row.name)}</b> (<code>{row.telegram_id}</code>){role} — "
                         f"активных чатов: {row.active_chats}")
        text = "\n".join(lines)
    if query.message is not None:
        await query.message.answer(text)


async def queue(query: CallbackQuery, service: SupportService) -> None:
    waiting = await service.waiting_chats()
    await query.answer()
    if query.message is None:
        return
    if not waiting:
        await query.message.answer("⏳ Очередь пуста.")
        return
    builder = InlineKeyboardBuilder()
    lines = [f"⏳ <b>Ожидают менеджера ({len(waiting)})</b>"]
    for card in waiting:
        lines.append(f"• #{card.chat_id} {client_label(card)} — с {card.created_at:%H:%M} UTC")
        builder.button(text=f"✅ Принять #{card.chat_id}",
                       callback_data=ChatCallback(action=ChatAction.ACCEPT, chat_id=card.chat_id))
        builder.button(text="📋", callback_data=ChatCallback(action=ChatAction.DETAILS, chat_id=card.chat_id))
    builder.adjust(2)
    await query.message.answer("\n".join(lines), reply_markup=builder.as_markup())


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.message.register(admin, Command("admin"))
    router.callback_query.register(admin_from_menu, MenuCallback.filter(F.action == MenuAction.ADMIN))
    router.callback_query.register(managers, AdminCallback.filter(F.action == AdminAction.MANAGERS))
    router.callback_query.register(queue, AdminCallback.filter(F.action == AdminAction.QUEUE))
    return router
