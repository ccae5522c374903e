"""Running the team: who may work in the bot and who is an admin, every change written down with its author.

Access is read from the managers table on every update (bot.middlewares.ManagerContext), so a change here
takes effect with the person's next message or button press; nothing has to be restarted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import peewee
import peewee_async

from core.db import transaction
from models import AuditLog, ChatStatus, Manager, SupportChat
from support.contracts import TeamMember
from support.service import SupportService

log = logging.getLogger("support.team")

# Telegram user ids are positive and fit in 52 bits; anything else is a typo, not a person.
MAX_TELEGRAM_ID = 2**52


class TeamAction:
    """AuditLog.action values."""

    ADD = "manager_add"
    DISABLE = "manager_disable"
    ENABLE = "manager_enable"
    MAKE_ADMIN = "admin_grant"
    REVOKE_ADMIN = "admin_revoke"


class TeamError(Exception):
    """A change that was refused; `reason` is what the admin reads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TeamChange:
    member: TeamMember
    changed: bool  # False: it already was so (a repeated press), nothing written
    config_admin: bool  # an admin by ADMIN_IDS, which only the configuration can change


def parse_telegram_id(text: str) -> int | None:
    """The id an admin typed ("123456789", " 123 456 789 "), or None when it cannot be one."""
    digits = "".join(text.split())
    if not digits.isdigit():
        return None
    value = int(digits)
    return value if 0 < value < MAX_TELEGRAM_ID else None


class TeamService:
    def __init__(
        self, db: peewee_async.AioDatabase, *, admin_ids: Sequence[int] = (), service: SupportService | None = None
    ) -> None:
        self.db = db
        self.service = service
        self.admin_ids = frozenset(admin_ids)

    @classmethod
    def for_service(cls, service: SupportService) -> TeamService:
        return cls(service.db, admin_ids=service.admin_ids, service=service)

    def is_config_admin(self, telegram_id: int) -> bool:
        return telegram_id in self.admin_ids

    # --- reading ------------------------------------------------------------------------------------

    async def member(self, telegram_id: int) -> TeamMember | None:
        load = SupportChat.select(peewee.fn.COUNT(SupportChat.id)).where(
            (SupportChat.manager == Manager.id) & (SupportChat.status == ChatStatus.ASSIGNED)
        )
        row = await Manager.select(Manager, load.alias("load")).where(
            Manager.telegram_id == telegram_id
        ).aio_first()
        if row is None:
            return None
        return TeamMember(
            telegram_id=row.telegram_id,
            name=row.display_name,
            online=row.is_online,
            active=row.is_active,
            admin=row.is_admin or self.is_config_admin(row.telegram_id),
            active_chats=row.load or 0,
        )

    # --- changes ------------------------------------------------------------------------------------

    async def add_manager(
        self, actor: int, telegram_id: int, *, name: str = "", username: str | None = None, via: str = "id"
    ) -> TeamChange:
        """Let a person work in the bot; they become a manager on their first /start.

        A disabled manager is switched back on rather than refused: that is what the admin means.
        """
        if not 0 < telegram_id < MAX_TELEGRAM_ID:
            raise TeamError("Это не похоже на Telegram ID: нужно положительное число.")
        async with transaction(self.db):
            existing = await Manager.aio_get_or_none(Manager.telegram_id == telegram_id)
            if existing is not None and existing.is_active:
                changed = False
            elif existing is not None:
                await Manager.update(is_active=True).where(Manager.id == existing.id).aio_execute()
                changed = True
            else:
                await Manager.aio_create(telegram_id=telegram_id, name=name, username=username)
                changed = True
            if changed:
                details = f"via={via}" + (f"; name={name}" if name else "") + (
                    "; re-enabled" if existing is not None else "")
                await self._audit(actor, TeamAction.ADD, telegram_id, details)
        return await self._result(telegram_id, changed)

    async def disable(self, actor: int, telegram_id: int) -> TeamChange:
        """Take access away at once; the history stays. The person is set offline so nothing is routed to them."""
        if telegram_id == actor:
            raise TeamError("Нельзя отключить самого себя — попросите другого администратора.")
        if self.is_config_admin(telegram_id):
            raise TeamError("Это администратор из настроек (ADMIN_IDS): его доступ меняется только там.")
        change = await self._set(
            actor, telegram_id, TeamAction.DISABLE, Manager.is_active == True,  # noqa: E712
            is_active=False, is_online=False, online_since=None,
        )
        if change.changed and self.service is not None:
            # Their visitors must not wait on someone who can no longer answer.
            await self.service.release_chats(telegram_id)
        return change

    async def enable(self, actor: int, telegram_id: int) -> TeamChange:
        return await self._set(actor, telegram_id, TeamAction.ENABLE, Manager.is_active == False,  # noqa: E712
                               is_active=True)

    async def make_admin(self, actor: int, telegram_id: int) -> TeamChange:
        manager = await Manager.aio_get_or_none(Manager.telegram_id == telegram_id)
        if manager is not None and not manager.is_active:
            raise TeamError("Менеджер отключён: сначала включите его.")
        return await self._set(actor, telegram_id, TeamAction.MAKE_ADMIN, Manager.is_admin == False,  # noqa: E712
                               is_admin=True)

    async def revoke_admin(self, actor: int, telegram_id: int) -> TeamChange:
        if self.is_config_admin(telegram_id):
            raise TeamError("Это администратор из настроек (ADMIN_IDS): снять права можно только там.")
        if telegram_id == actor:
            raise TeamError("Нельзя снять права с самого себя — попросите другого администратора.")
        return await self._set(actor, telegram_id, TeamAction.REVOKE_ADMIN, Manager.is_admin == True,  # noqa: E712
                               is_admin=False)

    # --- internals ----------------------------------------------------------------------------------

    async def _set(
        self, actor: int, telegram_id: int, action: str, unless_done: peewee.Expression, **values: object
    ) -> TeamChange:
        # The condition makes a double press (or two admins at once) change and log the thing once.
        async with transaction(self.db):
            if await Manager.aio_get_or_none(Manager.telegram_id == telegram_id) is None:
                raise TeamError("Такого менеджера нет в команде.")
            changed = bool(await Manager.update(**values).where(
                (Manager.telegram_id == telegram_id) & unless_done
            ).aio_execute())
            if changed:
                await self._audit(actor, action, telegram_id)
        return await self._result(telegram_id, changed)

    async def _audit(self, actor: int, action: str, telegram_id: int, details: str = "") -> None:
        await AuditLog.aio_create(actor_telegram_id=actor, action=action, target=str(telegram_id), details=details)
        log.info("Team change by admin %s: %s %s%s", actor, action, telegram_id, f" ({details})" if details else "")

    async def _result(self, telegram_id: int, changed: bool) -> TeamChange:
        member = await self.member(telegram_id)
        assert member is not None  # managers are never deleted, only disabled
        return TeamChange(member=member, changed=changed, config_admin=self.is_config_admin(telegram_id))
