"""One place for unexpected errors: the person gets a polite word, the log gets the traceback."""

import logging

from aiogram import Router
from aiogram.types import ErrorEvent

log = logging.getLogger(__name__)

SORRY = "😔 Что-то пошло не так. Попробуйте ещё раз; если не выйдет — напишите администратору."


async def on_error(event: ErrorEvent) -> bool:
    log.exception("Unhandled error in update %s", event.update.update_id, exc_info=event.exception)
    update = event.update
    if update.callback_query is not None:
        await update.callback_query.answer(SORRY, show_alert=True)
    elif update.message is not None:
        await update.message.answer(SORRY)
    return True


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="errors")
    router.error.register(on_error)
    return router
