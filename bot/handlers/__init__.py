from aiogram import Router

from bot.handlers import admin, chats, errors, fallback, search, shift, start, topics


def routers() -> list[Router]:
    # Order matters: the fallback router answers strangers and anything nobody else took.
    return [module.build_router() for module in (errors, start, shift, admin, search, topics, chats, fallback)]
