"""What an outbox round reads before a Bot API call: no statement a lone row does not need (support/outbox.py)."""

from __future__ import annotations

from typing import Any

import pytest

from models import Outbox
from support import outbox
from support.outbox import OutboxWorker, Priority


async def test_a_lone_head_about_a_chat_goes_without_looking_for_earlier_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    looked: list[tuple[Any, ...]] = []

    async def earlier(*values: Any) -> None:
        looked.append(values)

    monkeypatch.setattr(outbox._EARLIER_ABOUT_CHAT, "first", earlier)
    worker = OutboxWorker(bot=None)  # type: ignore[arg-type]  # nothing is sent here
    relay = Outbox(id=7, chat_id=100, priority=Priority.RELAY, support_chat=3)
    assert await worker._next_for_chat([relay]) is relay
    assert looked == []  # the one relay of its chat: nothing older can exist
    # An urgent row behind an older relay of another priority may overtake a row about its chat: that is looked up.
    urgent = Outbox(id=9, chat_id=100, priority=Priority.URGENT, support_chat=3)
    assert await worker._next_for_chat([relay, urgent]) is urgent  # the stub found no earlier row
    assert looked == [(100, 3, 9)]
