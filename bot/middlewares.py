"""Dependencies and guards that every handler relies on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import peewee
from aiogram import BaseMiddleware
from aiogram.filters import Filter
from aiogram.types import TelegramObject, Update, User

from models import Manager, ProcessedUpdate
from support.service import SupportService

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class OncePerUpdate(BaseMiddleware):
    """Telegram resends an update it thinks we missed (a webhook retry); handle each update_id once."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        try:
            await ProcessedUpdate.aio_create(update_id=event.update_id)
        except peewee.IntegrityError:
            log.info("Update %s was already handled; ignoring the repeat", event.update_id)
            return None
        try:
            return await handler(event, data)
        except BaseException:
            # Not handled after all (an error, or cancelled by a shutdown): let a retry of this update try again.
            await ProcessedUpdate.delete().where(ProcessedUpdate.update_id == event.update_id).aio_execute()
            raise


class ManagerContext(BaseMiddleware):
    """Puts the sender's manager row (or None for a stranger) into the handler's arguments."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        service: SupportService = data["service"]
        manager = await service.team.manager_by_telegram_id(user.id) if user else None
        data["manager"] = manager
        data["is_admin"] = bool(user) and service.team.is_admin(manager, user.id)
        return await handler(event, data)


class IsManager(Filter):
    async def __call__(self, event: TelegramObject, manager: Manager | None = None) -> bool:
        return manager is not None


class IsAdmin(Filter):
    async def __call__(self, event: TelegramObject, is_admin: bool = False) -> bool:
        return is_admin
