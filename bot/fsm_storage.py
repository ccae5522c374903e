"""aiogram FSM storage in the project's database, so a manager's reply mode survives a restart.

aiogram reads the state of every update before its handlers run, and a reply-mode handler then reads the data of
the same key: both live in one row, so the data read with the state is kept for that one next get_data in the
same update (a ContextVar: each webhook update is its own task) and the second query is spared. Any write to
the key, or a read of another key, drops what was kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey

from core.db import PreparedQuery
from models import FsmState

# Read with every update (aiogram asks for the state before any handler): rendered once, not per update.
_ROW = PreparedQuery(FsmState, lambda key: FsmState.select().where(FsmState.key == key))

# (key, the data column as read with the state): what the next get_data of that key in this update may use.
_read_with_state: ContextVar[tuple[str, str | None] | None] = ContextVar("fsm_read_with_state", default=None)


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
        row = await _ROW.first(built)
        _read_with_state.set((built, row.data if row else None))
        return row.state if row else None

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
