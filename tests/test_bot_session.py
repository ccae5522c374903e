"""The bot's session keeps each Bot API answer model, so a call does not rebuild it (bot/session.py)."""

from __future__ import annotations

import gc
import json
import weakref

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message

from bot.session import BotSession

ANSWER = json.dumps({"ok": True, "result": {"message_id": 7, "date": 0, "chat": {"id": 5, "type": "private"},
                                            "text": "hi"}})


def answer_model_survives(session: AiohttpSession) -> bool:
    bot = Bot("42:test", session=session)
    response = session.check_response(bot, SendMessage(chat_id=5, text="hi"), 200, ANSWER)
    assert response.result is not None and response.result.message_id == 7
    model = weakref.ref(type(response))
    del response
    gc.collect()
    return model() is not None and model() is Response[Message]


async def test_the_answer_model_outlives_the_answer() -> None:
    session = BotSession()
    try:
        assert answer_model_survives(session)
    finally:
        await session.close()

