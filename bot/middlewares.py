"""Dependencies and guards that every handler relies on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.filters import Filter
from aiogram.fsm.state import State
from aiogram.types import TelegramObject, Update, User

from bot.fsm_storage import sender_read_with_state
from models import Manager
from support.service import SupportService
from support.update_claims import UpdateClaims

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class OncePerUpdate(BaseMiddleware):
    """Each update_id handled once, and never lost: Telegram redelivers an update until a delivery is
    acknowledged, so a process that died mid-handler leaves its update to the next delivery (support.update_claims).
    """

    def __init__(self, claims: UpdateClaims | None = None) -> None:
        self.claims = claims or UpdateClaims()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        async with self.claims.handling(event.update_id) as ours:
            if not ours:
                return None
            return await handler(event, data)


class ManagerContext(BaseMiddleware):
    """Puts the sender's manager row (or None for a stranger) into the handler's arguments."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        service: SupportService = data["service"]
        # Usually read with the FSM state a moment ago (bot.fsm_storage), in the same statement.
        read = sender_read_with_state(user.id) if user else None
        if read is not None:
            manager = service.team.active(read.manager)
        else:
            manager = await service.team.manager_by_telegram_id(user.id) if user else None
        if manager is None and user is not None and service.team.is_configured(user.id):
            # Listed in MANAGER_IDS/ADMIN_IDS but never wrote /start: their first word (often /online) must work.
            manager = await service.team.register_manager(user.id, name=user.full_name, username=user.username)
            manager = manager if manager is not None and manager.is_active else None
        data["manager"] = manager
        data["is_admin"] = bool(user) and service.team.is_admin(manager, user.id)
        return await handler(event, data)


def run_pure_filters_in_place(router: Router) -> None:
    """aiogram runs a filter that is no coroutine function in a worker thread (asyncio.to_thread): F.text,
    F.reply_to_message..., ~F.text.startswith("/") and a State given as a filter each cost a thread hop, and a
    reply-mode text passes about nine of them before its handler (~2 ms). Magic filters and states only read the
    event and the state already read, so they run in place; any other plain function keeps its thread."""
    for each in router.chain_tail:
        for observer in each.observers.values():
            for handler in [observer._handler, *observer.handlers]:
                for check in handler.filters or ():
                    if not check.awaitable and (check.magic is not None or isinstance(check.callback, State)):
                        check.callback, check.awaitable = _in_place(check.callback), True


def _in_place(check: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def run(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)
    return run


class IsManager(Filter):
    async def __call__(self, event: TelegramObject, manager: Manager | None = None) -> bool:
        return manager is not None


class IsAdmin(Filter):
    async def __call__(self, event: TelegramObject, is_admin: bool = False) -> bool:
        return is_admin
