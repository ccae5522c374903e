"""aiogram FSM storage in the project's database, so a manager's reply mode survives a restart.

aiogram reads the state of every update before its handlers run, and a reply-mode handler then reads the data of
the same key: both live in one row, so the data read with the state is kept for that one next get_data in the
same update (a ContextVar: each webhook update is its own task) and the second query is spared. Any write to
the key, or a read of another key, drops what was kept.

The same read brings the sender's managers row (the key's user is the update's sender), which
bot.middlewares.ManagerContext looks up next: one round trip before the handlers instead of two.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from peewee import JOIN

from core.db import PreparedQuery
from models import FsmState, Manager

# Read with every update (aiogram asks for the state before any handler): rendered once, not per update.
_ROW = PreparedQuery(FsmState, lambda key: FsmState.select().where(FsmState.key == key))

# The sender's managers row with the key's state and data (LEFT JOIN: a manager without a state row has NULLs).
_MANAGER_AND_ROW = PreparedQuery(Manager, lambda telegram_id, key: Manager.select(
    Manager, FsmState.state.alias("fsm_state"), FsmState.data.alias("fsm_data"),
).join(FsmState, JOIN.LEFT_OUTER, on=FsmState.key == key).where(Manager.telegram_id == telegram_id))

# (key, the data column as read with the state): what the next get_data of that key in this update may use.
_read_with_state: ContextVar[tuple[str, str | None] | None] = ContextVar("fsm_read_with_state", default=None)


@dataclass(frozen=True)
class SenderRead:
    telegram_id: int
    manager: Manager | None  # the row as read, active or not; None: no managers row for this Telegram id
    at: float  # the loop's clock when read


# Kept for this update's ManagerContext, used once.
_sender_read: ContextVar[SenderRead | None] = ContextVar("fsm_sender_read", default=None)
# A read older than this (the update then waited for another process's claim on it) is not trusted.
SENDER_READ_FRESH_SECONDS = 1.0


def sender_read_with_state(telegram_id: int) -> SenderRead | None:
    """The managers row of `telegram_id` if this update's state read brought it just now (used once)."""
    read = _sender_read.get()
    if read is None:
        return None
    _sender_read.set(None)
    if read.telegram_id != telegram_id or asyncio.get_running_loop().time() - read.at > SENDER_READ_FRESH_SECONDS:
        return None
    return read


class DatabaseStorage(BaseStorage):
    def __init__(self) -> None:
        self._keys = DefaultKeyBuilder(with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self._keys.build(key)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        _read_with_state.set(None)
        value = state.state if isinstance(state, State) else state
        await FsmState.insert(key=self._key(key), state=value).on_conflict(
            conflict_target=[FsmState.key], update={FsmState.state: value}
        ).aio_execute()

    async def get_state(self, key: StorageKey) -> str | None:
        built = self._key(key)
        manager = await _MANAGER_AND_ROW.first(key.user_id, built)
        _sender_read.set(SenderRead(key.user_id, manager, asyncio.get_running_loop().time()))
        if manager is not None:
            state, data = manager.fsm_state, manager.fsm_data
        else:  # no manager (a stranger): the state on its own
            row = await _ROW.first(built)
            state, data = (row.state, row.data) if row else (None, None)
        _read_with_state.set((built, data))
        return state  # type: ignore[no-any-return]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        _read_with_state.set(None)
        payload = json.dumps(dict(data), ensure_ascii=False)
        await FsmState.insert(key=self._key(key), data=payload).on_conflict(
            conflict_target=[FsmState.key], update={FsmState.data: payload}
        ).aio_execute()

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        built = self._key(key)
        kept = _read_with_state.get()
        _read_with_state.set(None)  # used once: a later read in the same task goes to the database again
        if kept is not None and kept[0] == built:
            return json.loads(kept[1]) if kept[1] else {}
        row = await _ROW.first(built)
        return json.loads(row.data) if row and row.data else {}

    async def close(self) -> None:
        """The database pool is closed by its owner."""
