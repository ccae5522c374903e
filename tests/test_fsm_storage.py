"""The manager's FSM state in the database: the data read with the state serves the next data read once."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram.fsm.storage.base import StorageKey

from bot.fsm_storage import SENDER_READ_FRESH_SECONDS, DatabaseStorage, sender_read_with_state

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


async def test_the_senders_manager_row_comes_with_the_state_once_and_fresh(support: Any) -> None:
    """The state read brings the sender's managers row (one statement before the handlers, not two); it serves
    the next ManagerContext of that sender once, and not after the update waited (a claim held elsewhere)."""
    from models import Manager
    from support.team import TeamService

    storage = DatabaseStorage()
    anna = await Manager.aio_create(telegram_id=10, name="Анна", language_code="en")
    await storage.set_state(ANNA, "reply")
    await storage.set_data(ANNA, {"chat_id": 1})

    # A manager with a state row: state, data and row in one read.
    assert await storage.get_state(ANNA) == "reply"
    read = sender_read_with_state(10)
    assert read is not None and read.manager is not None
    assert (read.manager.id, read.manager.language_code, read.manager.is_active) == (anna.id, "en", True)
    assert sender_read_with_state(10) is None  # used once
    assert await storage.get_data(ANNA) == {"chat_id": 1}

    # A manager without a state row: no state, empty data, the row all the same.
    carl = StorageKey(bot_id=1, chat_id=40, user_id=40)
    await Manager.aio_create(telegram_id=40, name="Карл")
    assert await storage.get_state(carl) is None
    assert await storage.get_data(carl) == {}
    assert await storage.get_state(carl) is None
    read = sender_read_with_state(40)
    assert read is not None and read.manager is not None and read.manager.name == "Карл"

    # A stranger: the state alone, and "no managers row" said.
    assert await storage.get_state(BORIS) is None
    read = sender_read_with_state(20)
    assert read is not None and read.manager is None
    assert TeamService.active(read.manager) is None

    # A disabled manager's row is read, and is no one who may work.
    await Manager.update(is_active=False).where(Manager.id == anna.id).aio_execute()
    assert await storage.get_state(ANNA) == "reply"
    read = sender_read_with_state(10)
    assert read is not None and TeamService.active(read.manager) is None

    # Another sender's question is not answered from it; nor after the update waited past the freshness.
    assert await storage.get_state(ANNA) == "reply"
    assert sender_read_with_state(20) is None
    assert await storage.get_state(ANNA) == "reply"
    await asyncio.sleep(SENDER_READ_FRESH_SECONDS + 0.05)
    assert sender_read_with_state(10) is None
