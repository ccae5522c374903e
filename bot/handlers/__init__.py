from aiogram import Router

from bot.handlers import admin, chats, copilot, errors, fallback, search, shift, start, templates, topics


def routers() -> list[Router]:
    # Order matters: the fallback router answers strangers and anything nobody else took; templates come before
    # admin (whose refusal catches every admin button it does not know) and before chats (whose reply mode would
    # relay a message sent through inline mode without knowing its chat); topics before chats too (a message in
    # a chat's topic goes to that chat's visitor).
    modules = (errors, start, shift, templates, copilot, admin, search, topics, chats, fallback)
    return [module.build_router() for module in modules]
