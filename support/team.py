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

from core.db import PreparedQuery, transaction
from core.i18n import N_
from models import AuditLog, Manager
from support.contracts import TeamMember
from support.lifecycle import Lifecycle
from support.store import manager_load

log = logging.getLogger("support.team")

# Telegram user ids are positive and fit in 52 bits; anything else is a typo, not a person.
MAX_TELEGRAM_ID = 2**52

# Read with every update a manager sends (bot.middlewares.ManagerContext): rendered once, not per update.
_BY_TELEGRAM_ID = PreparedQuery(Manager, lambda telegram_id: Manager.select().where(Manager.telegram_id == telegram_id))


class TeamAction:
    """AuditLog.action values."""

    ADD = "manager_add"
    DISABLE = "manager_disable"
    ENABLE = "manager_enable"
    MAKE_ADMIN = "admin_grant"
    REVOKE_ADMIN = "admin_revoke"


class TeamError(Exception):
    """A change that was refused; `reason` is what the admin reads (a catalog text: the bot translates it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = self.template = reason
        self.values: dict[str, object] = {}


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
        self, db: peewee_async.AioDatabase, *, admin_ids: Sequence[int] = (), manager_ids: Sequence[int] = (),
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.admin_ids = frozenset(admin_ids)
        self.manager_ids = frozenset(manager_ids)

    def is_configured(self, telegram_id: int) -> bool:
        """Listed in MANAGER_IDS or ADMIN_IDS: allowed in without an admin adding them."""
        return telegram_id in self.manager_ids or telegram_id in self.admin_ids

    def is_config_admin(self, telegram_id: int) -> bool:
        return telegram_id in self.admin_ids

    def is_admin(self, manager: Manager | None, telegram_id: int) -> bool:
        return telegram_id in self.admin_ids or bool(manager and manager.is_admin)

    # --- who works here -----------------------------------------------------------------------------

    async def register_manager(self, telegram_id: int, *, name: str, username: str | None) -> Manager | None:
        """Register (or refresh) a manager allowed by MANAGER_IDS/ADMIN_IDS or added by an admin."""
        manager = await Manager.aio_get_or_none(Manager.telegram_id == telegram_id)
        if manager is None:
            if not self.is_configured(telegram_id):
                return None
            try:
                return await Manager.aio_create(telegram_id=telegram_id, name=name, username=username,
                                                is_admin=telegram_id in self.admin_ids)
            except peewee.IntegrityError:
                return await Manager.aio_get(Manager.telegram_id == telegram_id)
        if not manager.is_active:
            return None
        await Manager.update(name=name, username=username).where(Manager.id == manager.id).aio_execute()
        manager.name, manager.username = name, username
        return manager

    async def manager_by_telegram_id(self, telegram_id: int) -> Manager | None:
        """The active manager with this Telegram id (None for a stranger or a disabled manager)."""
        return self.active(await _BY_TELEGRAM_ID.first(telegram_id))

    @staticmethod
    def active(manager: Manager | None) -> Manager | None:
        """The row read for a Telegram id as who may work: None for a stranger or a disabled manager."""
        if manager is None or not manager.is_active:
            return None
        return manager

    # --- reading ------------------------------------------------------------------------------------

    async def overview(self) -> list[TeamMember]:
        """Everyone, online first; their load by the one definition routing uses (support.store.manager_load)."""
        rows = await Manager.select(Manager, manager_load().alias("load")).order_by(
            Manager.is_online.desc(), Manager.name).aio_execute()
        return [self._member(row) for row in rows]

    async def member(self, telegram_id: int) -> TeamMember | None:
        row = await Manager.select(Manager, manager_load().alias("load")).where(
            Manager.telegram_id == telegram_id).aio_first()
        return None if row is None else self._member(row)

    async def transfer_targets(self, manager: Manager) -> list[TeamMember]:
        """Online colleagues who could take a chat, least busy first."""
        return [member for member in await self.overview()
                if member.online and member.active and member.telegram_id != manager.telegram_id]

    def _member(self, row: Manager) -> TeamMember:
        return TeamMember(
            telegram_id=row.telegram_id, name=row.display_name, online=row.is_online, active=row.is_active,
            admin=self.is_admin(row, row.telegram_id), active_chats=row.load or 0,
        )

    # --- changes ------------------------------------------------------------------------------------

    async def add_manager(
        self, actor: int, telegram_id: int, *, name: str = "", username: str | None = None, via: str = "id"
    ) -> TeamChange:
        """Let a person work in the bot; they become a manager on their first /start.

        A disabled manager is switched back on rather than refused: that is what the admin means.
        """
        if not 0 < telegram_id < MAX_TELEGRAM_ID:
            raise TeamError(N_("Это не похоже на Telegram ID: нужно положительное число."))
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
        """Take access away at once; the history stays. Lifecycle sets them offline and re-routes their chats."""
        if telegram_id == actor:
            raise TeamError(N_("Нельзя отключить самого себя — попросите другого администратора."))
        if self.is_config_admin(telegram_id):
            raise TeamError(N_("Это администратор из настроек (ADMIN_IDS): его доступ меняется только там."))
        change = await self._set(
            actor, telegram_id, TeamAction.DISABLE, Manager.is_active == True,  # noqa: E712
            is_active=False,
        )
        if change.changed and self.lifecycle is not None:
            # Their visitors must not wait on someone who can no longer answer.
            await self.lifecycle.manager_removed(telegram_id)
            change = await self._result(telegram_id, True)
        return change

    async def enable(self, actor: int, telegram_id: int) -> TeamChange:
        return await self._set(actor, telegram_id, TeamAction.ENABLE, Manager.is_active == False,  # noqa: E712
                               is_active=True)

    async def make_admin(self, actor: int, telegram_id: int) -> TeamChange:
        manager = await Manager.aio_get_or_none(Manager.telegram_id == telegram_id)
        if manager is not None and not manager.is_active:
            raise TeamError(N_("Менеджер отключён: сначала включите его."))
        return await self._set(actor, telegram_id, TeamAction.MAKE_ADMIN, Manager.is_admin == False,  # noqa: E712
                               is_admin=True)

    async def revoke_admin(self, actor: int, telegram_id: int) -> TeamChange:
        if self.is_config_admin(telegram_id):
            raise TeamError(N_("Это администратор из настроек (ADMIN_IDS): снять права можно только там."))
        if telegram_id == actor:
            raise TeamError(N_("Нельзя снять права с самого себя — попросите другого администратора."))
        return await self._set(actor, telegram_id, TeamAction.REVOKE_ADMIN, Manager.is_admin == True,  # noqa: E712
                               is_admin=False)

    # --- internals ----------------------------------------------------------------------------------

    async def _set(
        self, actor: int, telegram_id: int, action: str, unless_done: peewee.Expression, **values: object
    ) -> TeamChange:
        # The condition makes a double press (or two admins at once) change and log the thing once.
        async with transaction(self.db):
            if await Manager.aio_get_or_none(Manager.telegram_id == telegram_id) is None:
                raise TeamError(N_("Такого менеджера нет в команде."))
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
