"""The Telegram side assembled: the aiogram Bot and Dispatcher managers and admins work in."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommandScopeChat, BotCommandScopeDefault

from bot.commands import ADMIN_COMMANDS, MANAGER_COMMANDS, admin_commands, manager_commands
from bot.fsm_storage import DatabaseStorage
from bot.handlers import admin, greetings, routers, templates
from bot.i18n import ManagerI18n, ManagerLanguages
from bot.middlewares import ManagerContext, OncePerUpdate, run_pure_filters_in_place
from bot.session import BotSession
from support.service import SupportService
from support.stats import StatsService


def build_bot(token: str, api_base: str, *, request_timeout: float = 30.0) -> Bot:
    session = BotSession(api=TelegramAPIServer.from_base(api_base), timeout=request_timeout)
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_dispatcher(service: SupportService, languages: ManagerLanguages | None = None) -> Dispatcher:
    languages = languages or ManagerLanguages()
    # `languages` also reaches handlers: a message to someone other than the sender speaks the recipient's.
    dispatcher = Dispatcher(
        storage=DatabaseStorage(), service=service, team=service.team,
        stats=StatsService(zone=service.policy.zone), languages=languages,
    )
    dispatcher.update.outer_middleware(OncePerUpdate())
    dispatcher.message.outer_middleware(ManagerContext())
    dispatcher.callback_query.outer_middleware(ManagerContext())
    dispatcher.edited_message.outer_middleware(ManagerContext())
    dispatcher.inline_query.outer_middleware(ManagerContext())
    # After ManagerContext: the language is remembered on the sender's manager row.
    ManagerI18n(languages).setup(dispatcher)
    # An admin's typed step (an ID or a forward) goes first: /cancel and the ID must not reach the general
    # /cancel or the reply handlers.
    dispatcher.include_routers(admin.build_steps_router(), greetings.build_steps_router(), greetings.build_router(),
                                templates.build_steps_router(), *routers())
    run_pure_filters_in_place(dispatcher)
    return dispatcher


async def set_commands(bot: Bot, admin_ids: tuple[int, ...]) -> None:
    await bot.set_my_commands(MANAGER_COMMANDS, scope=BotCommandScopeDefault())
    # Telegram shows a manager whose app is in English the English menu.
    await bot.set_my_commands(manager_commands("en"), scope=BotCommandScopeDefault(), language_code="en")
    for admin_id in admin_ids:
        await bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeChat(chat_id=admin_id))
        await bot.set_my_commands(admin_commands("en"), scope=BotCommandScopeChat(chat_id=admin_id),
                                  language_code="en")
