"""aiogram FSM storage in the project's database, so a manager's reply mode survives a restart."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey

from models import FsmState


class DatabaseStorage(BaseStorage):
    def __init__(self) -> None:
        self._keys = DefaultKeyBuilder(with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self._keys.build(key)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await FsmState.insert(key=self._key(key), state=value).on_conflict(
            conflict_target=[FsmState.key], update={FsmState.state: value}
        ).aio_execute()

    async def get_state(self, key: StorageKey) -> str | None:
        row = await FsmState.aio_get_or_none(FsmState.key == self._key(key))
        return row.state if row else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        payload = json.dumps(dict(data), ensure_ascii=False)
        await FsmState.insert(key=self._key(key), data=payload).on_conflict(
            conflict_target=[FsmState.key], update={FsmState.data: payload}
        ).aio_execute()

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = await FsmState.aio_get_or_none(FsmState.key == self._key(key))
        return json.loads(row.data) if row else {}

    async def close(self) -> None:
        """The database pool is closed by its owner."""
