"""The /sandbox page and its JSON API, with the fake mounted in the same aiohttp app.

This is the product's no-token setup: one app serves both the fake Bot API
(under /telegram-sandbox) and the page, and a real aiogram Dispatcher polls it.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
)
from aiohttp import web
from aiohttp.test_utils import TestClient

from sandbox import FakeBotAPI, FakeUser
from sandbox.web import setup_sandbox

TOKEN = "42:SandboxPageTestToken_abcdefghijklmnopqrstuv"
MANAGER = FakeUser(id=9001, first_name="Ольга", username="olga_manager")
OUTSIDER = FakeUser(id=9003, first_name="Иван", last_name="<Хакер>")

ClientFactory = Callable[[web.Application], Awaitable[TestClient]]


class _LocalSession(AiohttpSession):
    async def close(self) -> None:
        # Skips aiogram's TLS-shutdown grace sleep; the fake is plain HTTP on loopback.
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        assert message.from_user is not None
        await message.answer(
            f"Привет, <b>{html.escape(message.from_user.full_name)}</b>! <tg-spoiler>секрет</tg-spoiler>",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text="Принять", callback_data="accept")],
                    [InlineKeyboardButton(text="Сайт", url="https://ilpo-taxi.example/")],
                ]
            ),
        )

    @router.message(Command("buttons"))
    async def buttons(message: Message) -> None:
        await message.answer("Кнопки", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="Найти", switch_inline_query_current_chat="#5 "),
            InlineKeyboardButton(text="Копировать", copy_text=CopyTextButton(text="текст"))]]))

    @router.callback_query(F.data == "accept")
    async def accept(query: CallbackQuery) -> None:
        await query.answer("Принято!", show_alert=True)

    @router.inline_query()
    async def inline(query: InlineQuery) -> None:
        await query.answer([InlineQueryResultArticle(
            id="echo", title=f"Эхо: {query.query}", description="отправить как есть",
            input_message_content=InputTextMessageContent(message_text=f"эхо {html.escape(query.query)}"))],
            is_personal=True, cache_time=0)

    @router.message(F.via_bot)
    async def via_bot(message: Message) -> None:
        await message.answer(f"Пришло через inline: {html.escape(message.text or '')}")

    @router.message(F.reply_to_message)
    async def replied(message: Message) -> None:
        assert message.reply_to_message is not None
        await message.answer(f"Ответ на #{message.reply_to_message.message_id}")

    return router


@pytest.fixture
async def sandbox(aiohttp_client: ClientFactory) -> AsyncIterator[tuple[TestClient, FakeBotAPI]]:
    fake = FakeBotAPI(TOKEN)
    app = web.Application()
    fake.register(app, prefix="/telegram-sandbox")
    setup_sandbox(app, fake, [MANAGER, OUTSIDER], labels={MANAGER.id: "Менеджер", OUTSIDER.id: "Посторонний"})
    client = await aiohttp_client(app)
    base = str(client.make_url("/telegram-sandbox"))
    session = _LocalSession(api=TelegramAPIServer.from_base(base), timeout=5)
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    await bot.set_my_commands([BotCommand(command="start", description="Начать работу")])
    dp = Dispatcher()
    dp.include_router(_router())
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=2)
    )
    yield client, fake
    await dp.stop_polling()
    await asyncio.wait_for(task, 5)
    await bot.session.close()
    await fake.stop()


async def _chat_until(client: TestClient, user_id: int, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for _ in range(100):
        resp = await client.get(f"/sandbox/api/chats/{user_id}")
        chat = await resp.json()
        if check(chat):
            return chat
        await asyncio.sleep(0.02)
    raise AssertionError(f"chat never matched: {chat}")


async def test_page_is_self_contained(sandbox: tuple[TestClient, FakeBotAPI]) -> None:
    client, _fake = sandbox
    resp = await client.get("/sandbox")
    assert resp.status == 200
    body = await resp.text()
    config_json = body.split('<script id="config" type="application/json">', 1)[1].split("</script>", 1)[0]
    config = json.loads(config_json)
    assert [p["label"] for p in config["personas"]] == ["Менеджер", "Посторонний"]
    assert config["api"] == "/sandbox/api"
    # No external assets: the page must work without internet access.
    assert "http://" not in body and "https://" not in body
    assert "<script src" not in body and "stylesheet" not in body


async def test_chat_flow_through_api(sandbox: tuple[TestClient, FakeBotAPI]) -> None:
    client, fake = sandbox
    resp = await client.post(f"/sandbox/api/chats/{MANAGER.id}/messages", json={"text": "/start"})
    assert resp.status == 200

    chat = await _chat_until(client, MANAGER.id, lambda c: len(c["messages"]) == 2)
    mine, bot_message = chat["messages"]
    assert mine["from_bot"] is False and "/start" in mine["html"]
    assert bot_message["html"] == (
        'Привет, <b>Ольга</b>! <span class="tg-spoiler">секрет</span>'
    )
    assert bot_message["buttons"] == [
        [{"text": "Принять", "type": "callback", "data": "accept"}],
        [{"text": "Сайт", "type": "url", "url": "https://ilpo-taxi.example/"}],
    ]
    assert chat["commands"] == [{"command": "start", "description": "Начать работу"}]

    resp = await client.post(
        f"/sandbox/api/chats/{MANAGER.id}/press",
        json={"message_id": bot_message["id"], "callback_data": "accept"},
    )
    pressed = await resp.json()
    assert pressed["answer"]["text"] == "Принято!" and pressed["answer"]["show_alert"] is True

    resp = await client.post(
        f"/sandbox/api/chats/{MANAGER.id}/messages",
        json={"text": "ок", "reply_to_message_id": bot_message["id"]},
    )
    assert resp.status == 200
    chat = await _chat_until(client, MANAGER.id, lambda c: len(c["messages"]) == 4)
    assert chat["messages"][2]["reply_to"]["id"] == bot_message["id"]
    assert chat["messages"][3]["html"] == f"Ответ на #{bot_message['id']}"
    assert fake.violations == []


async def test_user_names_are_escaped(sandbox: tuple[TestClient, FakeBotAPI]) -> None:
    client, _fake = sandbox
    await client.post(f"/sandbox/api/chats/{OUTSIDER.id}/messages", json={"text": "/start <img src=x>"})
    chat = await _chat_until(client, OUTSIDER.id, lambda c: len(c["messages"]) == 2)
    assert "&lt;img src=x&gt;" in chat["messages"][0]["html"]
    assert "<b>Иван &lt;Хакер&gt;</b>" in chat["messages"][1]["html"]


async def test_long_poll_wakes_on_change(sandbox: tuple[TestClient, FakeBotAPI]) -> None:
    client, fake = sandbox
    version = fake.version
    waiting = asyncio.create_task(client.get(f"/sandbox/api/events?since={version}"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await fake.send_message(MANAGER, "привет")
    resp = await asyncio.wait_for(waiting, 2)
    assert (await resp.json())["version"] > version


async def test_unknown_persona_and_bad_input(sandbox: tuple[TestClient, FakeBotAPI]) -> None:
    client, _fake = sandbox
    assert (await client.get("/sandbox/api/chats/12345")).status == 404
    resp = await client.post(f"/sandbox/api/chats/{MANAGER.id}/messages", json={"text": "  "})
    assert resp.status == 400
    resp = await client.post(
        f"/sandbox/api/chats/{MANAGER.id}/press", json={"message_id": 999, "callback_data": "x"}
    )
    assert resp.status == 400


async def test_inline_mode_results_and_choosing_one(sandbox: tuple[TestClient, FakeBotAPI]) -> None:
    client, fake = sandbox
    url = f"/sandbox/api/chats/{MANAGER.id}/inline"
    resp = await client.post(url, json={"query": "привет"})
    assert resp.status == 400 and "inline mode is off" in await resp.text()  # as without BotFather's /setinline

    fake.inline_mode = True
    await client.post(f"/sandbox/api/chats/{MANAGER.id}/messages", json={"text": "/start"})
    resp = await client.post(url, json={"query": "x" * 257})
    assert resp.status == 400
    resp = await client.post(url, json={"query": "привет"})
    assert resp.status == 200
    answer = await resp.json()
    assert answer["answered"] is True and answer["button"] is None
    assert answer["results"] == [{"id": "echo", "title": "Эхо: привет", "description": "отправить как есть",
                                  "choosable": True}]

    choose = f"/sandbox/api/chats/{OUTSIDER.id}/inline/choose"
    resp = await client.post(choose, json={"query_id": answer["query_id"], "result_id": "echo"})
    assert resp.status == 400  # another persona's results are not theirs to choose
    choose = f"/sandbox/api/chats/{MANAGER.id}/inline/choose"
    resp = await client.post(choose, json={"query_id": answer["query_id"], "result_id": "nope"})
    assert resp.status == 400
    resp = await client.post(choose, json={"query_id": answer["query_id"], "result_id": "echo"})
    assert resp.status == 200
    chat = await _chat_until(client, MANAGER.id, lambda c: any(
        "Пришло через inline: эхо привет" in (m["html"] or "") for m in c["messages"]))
    sent = next(m for m in chat["messages"] if m["html"] == "эхо привет")
    assert sent["from_bot"] is False


async def test_inline_and_copy_buttons_are_described_for_the_page(sandbox: tuple[TestClient, FakeBotAPI]) -> None:
    client, _fake = sandbox
    await client.post(f"/sandbox/api/chats/{MANAGER.id}/messages", json={"text": "/buttons"})
    chat = await _chat_until(client, MANAGER.id, lambda c: any(m["html"] == "Кнопки" for m in c["messages"]))
    (message,) = [m for m in chat["messages"] if m["html"] == "Кнопки"]
    assert message["buttons"] == [[{"text": "Найти", "type": "inline", "query": "#5 "},
                                   {"text": "Копировать", "type": "copy", "copy": "текст"}]]
