"""/find <phone | name | text>: a manager's own and joined chats, an admin's all, newest first."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import InlineKeyboardMarkup, Message

from bot.i18n import _
from bot.middlewares import IsManager
from bot.render import FIND_USAGE, find_results
from models import Manager
from support.search import MAX_QUERY
from support.service import SupportService


async def find(message: Message, command: CommandObject, service: SupportService, manager: Manager) -> None:
    text = (command.args or "").strip()
    if not text:
        await message.answer(_(FIND_USAGE))
        return
    if len(text) > MAX_QUERY:
        await message.answer(_("Слишком длинный запрос: не больше {limit} символов.").format(limit=MAX_QUERY))
        return
    cards = await service.queries.find(manager, text)
    body, rows = find_results(text, cards, everyone=service.queries.is_admin(manager))
    await message.answer(body, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None)


def build_router() -> Router:
    router = Router(name="search")
    router.message.filter(IsManager())
    router.message.register(find, Command("find"), F.text)
    return router
