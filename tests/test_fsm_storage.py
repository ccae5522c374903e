"""The manager's FSM state in the database: the data read with the state serves the next data read once."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram.fsm.storage.base import StorageKey

from bot.fsm_storage import DatabaseStorage

ANNA = StorageKey(bot_id=1, chat_id=10, user_id=10)
BORIS = StorageKey(bot_id=1, chat_id=20, user_id=20)


async def test_data_follows_every_write_between_the_reads(support: Any) -> None:
    storage = DatabaseStorage()
    await storage.set_state(ANNA, "reply")
    await storage.set_data(ANNA, {"chat_id": 1})
    await storage.set_data(BORIS, {"chat_id": 2})

    assert await storage.get_state(ANNA) == "reply"
    assert await storage.get_data(ANNA) == {"chat_id": 1}

    # A write after the state was read: the data read sees it.
    assert await storage.get_state(ANNA) == "reply"
    await storage.set_data(ANNA, {"chat_id": 3})
    assert await storage.get_data(ANNA) == {"chat_id": 3}

    # Another key's data is never answered from what was read with Anna's state.
    assert await storage.get_state(ANNA) == "reply"
    assert await storage.get_data(BORIS) == {"chat_id": 2}

    # What was kept serves one read: a second one in the same task sees another task's write.
    assert await storage.get_state(ANNA) == "reply"
    assert await storage.get_data(ANNA) == {"chat_id": 3}
    await asyncio.create_task(storage.set_data(ANNA, {"chat_id": 4}))
    assert await storage.get_data(ANNA) == {"chat_id": 4}

    # No row yet: no state and empty data.
    nobody = StorageKey(bot_id=1, chat_id=30, user_id=30)
    assert await storage.get_state(nobody) is None
    assert await storage.get_data(nobody) == {}
