"""One place for errors: a refusal of the chat service becomes a polite reply, anything else a polite word
for the person and a traceback for the log."""

import logging
from html import escape

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.i18n import N_, _
from support.contracts import ChatAlreadyTaken, ChatClosed, ChatNotFound, NotAllowed, SupportError
from support.templates import TemplateNotFound

log = logging.getLogger(__name__)

SORRY = N_("😔 Что-то пошло не так. Попробуйте ещё раз; если не выйдет — напишите администратору.")


def refusal(error: SupportError) -> str:
    """What a manager reads when the chat service refuses an action."""
    if isinstance(error, ChatAlreadyTaken):
        return _("Этот чат уже принял(а) {manager}.").format(manager=error.manager_name)
    if isinstance(error, ChatClosed):
        return _("Этот чат уже завершён.")
    if isinstance(error, ChatNotFound):
        return _("Чат не найден.")
    if isinstance(error, TemplateNotFound):
        return _("Этого шаблона уже нет: администратор удалил его. Откройте «📝 Шаблоны» заново.")
    if isinstance(error, NotAllowed):
        return _("⛔ Это чат другого менеджера: у вас нет к нему доступа.")
    return _("Не получилось выполнить действие.")


async def on_refusal(event: ErrorEvent) -> bool:
    """A button's refusal is an alert on that button; a message's is a reply. Nothing for the log: it is normal."""
    assert isinstance(event.exception, SupportError)
    await _tell(event, refusal(event.exception))
    return True


async def on_error(event: ErrorEvent) -> bool:
    log.exception("Unhandled error in update %s", event.update.update_id, exc_info=event.exception)
    await _tell(event, _(SORRY))
    return True


async def _tell(event: ErrorEvent, text: str) -> None:
    """An alert on the button pressed, or a reply to the message sent."""
    update = event.update
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.message is not None:
        await update.message.answer(escape(text))  # a refusal names a manager, whose name is theirs to choose
    elif update.edited_message is not None:
        await update.edited_message.answer(escape(text))


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="errors")
    router.error.register(on_refusal, ExceptionTypeFilter(SupportError))
    router.error.register(on_error)
    return router
