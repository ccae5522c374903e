"""Pure filters (magic filters, states) run in place, not in a worker thread: same answers, no thread hop."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiogram import F, Router
from aiogram.fsm.state import State
from aiogram.types import Chat, Message, User

from bot.middlewares import run_pure_filters_in_place
from bot.states import ReplyMode


def _message(text: str) -> Message:
    return Message(message_id=1, date=dt.datetime.now(dt.UTC), chat=Chat(id=1, type="private"),
                   from_user=User(id=1, is_bot=False, first_name="Анна"), text=text)


async def test_magic_filters_and_states_answer_as_before_without_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    router, inner = Router(), Router()
    router.include_router(inner)

    def blocking(message: Message) -> bool:  # a plain function may block: it keeps its thread
        return True

    inner.message.filter(F.chat.type == "private")
    inner.message.register(lambda m: None, ReplyMode.active, F.text, ~F.text.startswith("/"))
    inner.message.register(lambda m: None, blocking)
    run_pure_filters_in_place(router)

    reply, plain = inner.message.handlers
    assert all(check.awaitable for check in reply.filters or ())
    assert not (plain.filters or [])[0].awaitable

    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a pure filter went to a thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    assert (await inner.message.check_root_filters(_message("Здравствуйте")))[0]
    assert (await reply.check(_message("Здравствуйте"), raw_state=ReplyMode.active.state))[0]
    assert not (await reply.check(_message("/cancel"), raw_state=ReplyMode.active.state))[0]
    assert not (await reply.check(_message("Здравствуйте"), raw_state=None))[0]


def test_the_desks_dispatcher_sends_no_pure_filter_to_a_thread() -> None:
    from unittest.mock import MagicMock

    from bot.assembly import build_dispatcher

    dispatcher = build_dispatcher(MagicMock())
    left = [(each.name, check.callback) for each in dispatcher.chain_tail for observer in each.observers.values()
            for handler in [observer._handler, *observer.handlers] for check in handler.filters or ()
            if not check.awaitable and (check.magic is not None or isinstance(check.callback, State))]
    assert left == []
