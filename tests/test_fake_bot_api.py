"""The fake Telegram Bot API, driven by the real aiogram Bot and Dispatcher.

These tests pin down that the fake behaves like Telegram where the product
depends on it: the wire format aiogram produces, Telegram's error answers (and
so the exceptions aiogram raises), long polling, webhooks and fault injection.
"""

from __future__ import annotations

import asyncio
import html
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from aiohttp import web

from sandbox import FakeBotAPI, FakeUser
from sandbox.tg_html import HTMLParseError, parse_html, render_html

TOKEN = "123456789:AAFakeTokenForTests-abcdefghijklmnopq"
MANAGER = FakeUser(id=5001, first_name="Мария", last_name="Петрова", username="maria_manager")
ADMIN = FakeUser(id=5002, first_name="Админ", username="ilpo_admin")


class _LocalSession(AiohttpSession):
    """The real aiogram session, minus the 250 ms TLS-shutdown grace sleep in close().

    The fake speaks plain HTTP on loopback, so the sleep only slows every test down.
    """

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI(TOKEN, webhook_retry_delay=0.05)
    api.register_user(MANAGER)
    api.register_user(ADMIN)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    assert fake.base_url is not None
    session = _LocalSession(api=TelegramAPIServer.from_base(fake.base_url), timeout=5)
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    yield bot
    await bot.session.close()


def _demo_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        assert message.from_user is not None
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="Взять обращение", callback_data="take:42")],
                [InlineKeyboardButton(text="Сайт", url="https://ilpo-taxi.example/")],
            ]
        )
        await message.answer(
            f"Здравствуйте, <b>{html.escape(message.from_user.first_name)}</b>!", reply_markup=keyboard
        )

    @router.message(F.forward_origin)
    async def forwarded(message: Message) -> None:
        origin = message.forward_origin
        sender = getattr(origin, "sender_user", None)
        if sender is None:
            await message.answer("Не вижу автора: у него скрыта пересылка")
        else:
            await message.answer(f"Добавлен менеджер {sender.id}")

    @router.message(Command("echo"))
    async def echo(message: Message) -> None:
        await message.reply(html.escape(message.text or ""))

    @router.callback_query(F.data.startswith("take:"))
    async def take(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.answer("Обращение ваше", show_alert=True)
        await query.message.edit_text("Обращение №42 взято в работу")

    return router


@pytest.fixture
async def polling(bot: Bot) -> AsyncIterator[Dispatcher]:
    dp = Dispatcher()
    dp.include_router(_demo_router())
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=2)
    )
    yield dp
    await dp.stop_polling()
    await asyncio.wait_for(task, 5)


async def _raw_post(fake: FakeBotAPI, path: str, data: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}{path}", data=data) as resp,
    ):
        return resp.status, await resp.json()


async def test_dialog_through_real_dispatcher(fake: FakeBotAPI, polling: Dispatcher) -> None:
    sent = await fake.send_message(MANAGER, "/start")
    assert sent["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]

    greeting = await fake.wait_for_message(MANAGER.id)
    assert greeting.text == "Здравствуйте, Мария!"
    assert greeting.raw_text == "Здравствуйте, <b>Мария</b>!"
    assert greeting.entities[0] == {"offset": 14, "length": 5, "type": "bold"}
    assert greeting.button_texts == ["Взять обращение", "Сайт"]
    assert greeting.message_id > sent["message_id"]

    cq_id = await fake.press_button(MANAGER, greeting.message_id, "Взять обращение")
    answer = await fake.wait_callback_answer(cq_id)
    assert answer["text"] == "Обращение ваше"
    assert answer["show_alert"] is True

    edited = await fake.wait_for_edit(MANAGER.id, greeting.message_id)
    assert edited.text == "Обращение №42 взято в работу"
    # Telegram drops the keyboard when editMessageText comes without reply_markup.
    assert edited.reply_markup is None
    assert edited.history[0].text == "Здравствуйте, Мария!"
    assert fake.violations == []


async def test_reply_and_forward(fake: FakeBotAPI, polling: Dispatcher) -> None:
    sent = await fake.send_message(ADMIN, "/echo a<b")
    reply = await fake.wait_for_message(ADMIN.id)
    assert reply.text == "/echo a<b"
    assert reply.reply_to == sent["message_id"]

    await fake.forward_message_from(ADMIN, MANAGER)
    added = await fake.wait_for_message(ADMIN.id)
    assert added.text == f"Добавлен менеджер {MANAGER.id}"

    await fake.forward_message_from(ADMIN, MANAGER, hidden=True)
    hidden = await fake.wait_for_message(ADMIN.id)
    assert "скрыта" in hidden.content
    assert fake.violations == []


async def test_unknown_method_is_404(fake: FakeBotAPI) -> None:
    status, body = await _raw_post(fake, f"/bot{TOKEN}/sendTelepathy", {"chat_id": "1"})
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_wrong_token_is_401(fake: FakeBotAPI) -> None:
    status, body = await _raw_post(fake, "/bot1:wrong/getMe", {})
    assert status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_field_is_a_violation(fake: FakeBotAPI) -> None:
    status, body = await _raw_post(
        fake, f"/bot{TOKEN}/sendMessage", {"chat_id": str(MANAGER.id), "text": "hi", "colour": "red"}
    )
    assert status == 200 and body["ok"] is True
    assert body["result"]["text"] == "hi"
    assert fake.violations == ["sendMessage: unknown field 'colour'"]


async def test_method_names_are_case_insensitive(fake: FakeBotAPI) -> None:
    status, body = await _raw_post(fake, f"/bot{TOKEN}/getme", {})
    assert status == 200
    assert body["result"]["is_bot"] is True


async def test_missing_required_field(fake: FakeBotAPI, bot: Bot) -> None:
    # aiogram drops empty strings from the form, so the field is simply absent.
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(MANAGER.id, "")
    with pytest.raises(TelegramBadRequest, match="chat_id is empty"):
        await bot.edit_message_text(text="x")
    assert fake.calls_of("sendMessage")[0].ok is False
    assert fake.messages(MANAGER.id) == []


async def test_length_limits(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(MANAGER.id, "я" * 4097)
    # The limit applies after entity parsing, so markup does not count.
    await bot.send_message(MANAGER.id, "<b>" + "я" * 4096 + "</b>")
    document = BufferedInputFile(b"x", filename="a.txt")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(MANAGER.id, document, caption="c" * 1025)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("2 < 3", 'Unsupported start tag "" at byte offset 2'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_bad_html_is_rejected(fake: FakeBotAPI, bot: Bot, text: str, error: str) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities") as info:
        await bot.send_message(MANAGER.id, text)
    assert error in info.value.message
    assert fake.messages(MANAGER.id) == []


async def test_unescaped_ampersand_is_accepted_but_reported(fake: FakeBotAPI, bot: Bot) -> None:
    message = await bot.send_message(MANAGER.id, "Tom & Jerry &amp; co")
    assert message.text == "Tom & Jerry & co"
    assert len(fake.violations) == 1 and "unescaped '&'" in fake.violations[0]


async def test_callback_data_limit(fake: FakeBotAPI, bot: Bot) -> None:
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="й" * 33)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(MANAGER.id, "hi", reply_markup=too_long)


async def test_edit_not_modified(fake: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(MANAGER.id, "Статус: <i>новое</i>")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(text="Статус: <i>новое</i>", chat_id=MANAGER.id, message_id=sent.message_id)
    await bot.edit_message_text(text="Статус: <i>в работе</i>", chat_id=MANAGER.id, message_id=sent.message_id)
    assert fake.messages(MANAGER.id)[0].text == "Статус: в работе"
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=MANAGER.id, message_id=999)


async def test_delete_and_reply_parameters(fake: FakeBotAPI, bot: Bot) -> None:
    first = await bot.send_message(MANAGER.id, "one")
    second = await bot.send_message(
        MANAGER.id, "two", reply_parameters=ReplyParameters(message_id=first.message_id)
    )
    assert second.reply_to_message is not None
    assert second.reply_to_message.message_id == first.message_id
    assert await bot.delete_message(MANAGER.id, first.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(MANAGER.id, first.message_id)
    assert [m.text for m in fake.messages(MANAGER.id)] == ["two"]


async def test_chat_rules(fake: FakeBotAPI, bot: Bot) -> None:
    stranger = FakeUser(id=777, first_name="Незнакомец")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(stranger.id, "hi")
    fake.register_user(stranger, started=False)
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(stranger.id, "hi")
    await fake.block(MANAGER)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(MANAGER.id, "hi")
    chat = await bot.get_chat(ADMIN.id)
    assert chat.username == "ilpo_admin" and chat.type == "private"


async def test_429_fault(fake: FakeBotAPI, bot: Bot) -> None:
    fake.inject_fault("sendMessage", "429", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(MANAGER.id, "hi")
    assert info.value.retry_after == 7
    assert fake.messages(MANAGER.id) == []
    await bot.send_message(MANAGER.id, "hi")
    assert len(fake.messages(MANAGER.id)) == 1


async def test_5xx_network_and_timeout_faults(fake: FakeBotAPI, bot: Bot) -> None:
    fake.inject_fault(None, "5xx", times=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.send_message(MANAGER.id, "hi")
    fake.inject_fault("sendMessage", "network")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(MANAGER.id, "hi")
    fake.inject_fault("sendMessage", "timeout", delay=3)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(MANAGER.id, "hi", request_timeout=1)
    assert fake.messages(MANAGER.id) == []
    assert [c.fault for c in fake.calls_of("sendMessage")] == ["5xx", "5xx", "network", "timeout"]


async def test_get_updates_long_poll_and_offset(fake: FakeBotAPI, bot: Bot) -> None:
    assert await bot.get_updates(timeout=0) == []
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    await fake.send_message(MANAGER, "привет")
    updates = await asyncio.wait_for(waiting, 2)
    assert len(updates) == 1 and updates[0].message is not None
    assert updates[0].message.text == "привет"
    # Until confirmed by a higher offset, the same update is returned again.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []


async def test_second_poller_terminates_the_first(fake: FakeBotAPI, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 2)
    second.cancel()


async def test_allowed_updates_filter(fake: FakeBotAPI, bot: Bot) -> None:
    await fake.send_message(MANAGER, "не нужно")
    assert await bot.get_updates(timeout=0, allowed_updates=["callback_query"]) == []
    # The subscription is remembered for later calls that do not repeat it.
    await fake.send_message(MANAGER, "тоже не нужно")
    assert await bot.get_updates(timeout=0) == []
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 0


async def test_webhook_delivery_with_secret_and_retry(fake: FakeBotAPI, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    failures = {"left": 1}

    async def hook(request: web.Request) -> web.Response:
        if failures["left"]:
            failures["left"] -= 1
            return web.Response(status=500)
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret_Token")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        await fake.send_message(MANAGER, "через вебхук")
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        secret, update = received[0]
        assert secret == "s3cret_Token"
        assert update["message"]["text"] == "через вебхук"
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0
        assert info.last_error_message is not None and "500" in info.last_error_message
        await bot.delete_webhook()
        assert await bot.get_updates(timeout=0) == []
    finally:
        await runner.cleanup()


async def test_webhook_reply_method_is_executed(fake: FakeBotAPI, bot: Bot) -> None:
    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        chat_id = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "из ответа"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
        await fake.send_message(MANAGER, "hi")
        reply = await fake.wait_for_message(MANAGER.id)
        assert reply.text == "из ответа"
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


async def test_send_document_multipart(fake: FakeBotAPI, bot: Bot) -> None:
    payload = "дата;сумма\n2024-01-01;100\n".encode()
    sent = await bot.send_document(
        MANAGER.id, BufferedInputFile(payload, filename="отчёт.csv"), caption="<b>Отчёт</b> за день"
    )
    assert sent.document is not None and sent.document.file_name == "отчёт.csv"
    stored = fake.last_message(MANAGER.id)
    assert stored is not None and stored.document is not None
    assert stored.document.data == payload
    assert stored.caption == "Отчёт за день"
    assert stored.entities == [{"offset": 0, "length": 5, "type": "bold"}]
    # The same file_id can be re-sent, and downloaded like from Telegram's file server.
    await bot.send_document(ADMIN.id, sent.document.file_id)
    downloaded = await bot.download(sent.document.file_id)
    assert downloaded is not None and downloaded.read() == payload
    assert fake.violations == []


async def test_send_photo_keeps_bytes_and_size(fake: FakeBotAPI, bot: Bot) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", 640, 480) + b"\x08\x02\x00\x00\x00"
    sent = await bot.send_photo(MANAGER.id, BufferedInputFile(png, filename="car.png"), caption="Авто")
    assert sent.photo is not None and (sent.photo[-1].width, sent.photo[-1].height) == (640, 480)
    stored = fake.last_message(MANAGER.id)
    assert stored is not None and stored.photo is not None
    assert stored.photo.data == png and stored.photo.filename == "car.png" and stored.caption == "Авто"


async def test_user_document_reaches_bot(fake: FakeBotAPI, bot: Bot) -> None:
    await fake.send_document(MANAGER, "scan.pdf", b"%PDF-1.4", caption="скан")
    updates = await bot.get_updates(timeout=0)
    message = updates[0].message
    assert message is not None and message.document is not None
    assert message.caption == "скан"
    downloaded = await bot.download(message.document.file_id)
    assert downloaded is not None and downloaded.read() == b"%PDF-1.4"


async def test_commands_and_chat_action(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Начать")])
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert fake.commands_for(MANAGER) == [{"command": "start", "description": "Начать"}]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])
    assert await bot.send_chat_action(MANAGER.id, "typing") is True
    assert await bot.delete_my_commands() is True
    assert fake.commands_for(MANAGER) == []


async def test_unmodelled_boolean_method_is_accepted(fake: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_my_description("Поддержка ILPO-TAXI") is True
    assert fake.calls_of("setMyDescription")[0].params == {"description": "Поддержка ILPO-TAXI"}


async def test_wait_for_message_times_out_with_context(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.send_message(MANAGER.id, "первое")
    first = await fake.wait_for_message(MANAGER.id)
    assert first.text == "первое"
    with pytest.raises(TimeoutError, match="первое"):
        await fake.wait_for_message(MANAGER.id, timeout=0.1)


async def test_json_body_is_accepted(fake: FakeBotAPI) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.base_url}/bot{TOKEN}/sendMessage",
            json={"chat_id": MANAGER.id, "text": "json", "reply_markup": {"inline_keyboard": []}},
        ) as resp,
    ):
        body = await resp.json()
    assert body["ok"] is True and body["result"]["text"] == "json"


def test_html_parser_counts_utf16_and_renders_safely() -> None:
    parsed = parse_html('😀 <b>жир</b> <a href="https://x.example/?a=1&amp;b=2">ссылка</a>')
    assert parsed.text == "😀 жир ссылка"
    assert parsed.entities == [
        {"offset": 3, "length": 3, "type": "bold"},
        {"offset": 7, "length": 6, "type": "text_link", "url": "https://x.example/?a=1&b=2"},
    ]
    rendered = render_html(parsed.text, parsed.entities)
    assert rendered == (
        '😀 <b>жир</b> <a href="https://x.example/?a=1&amp;b=2" target="_blank" '
        'rel="noopener noreferrer">ссылка</a>'
    )
    hostile = render_html("<script>x</script>", [{"offset": 0, "length": 5, "type": "text_link",
                                                   "url": "javascript:alert(1)"}])
    assert "<script>" not in hostile and "javascript" not in hostile
    with pytest.raises(HTMLParseError):
        parse_html("<b>x</i>")


def test_pre_with_language() -> None:
    parsed = parse_html('<pre><code class="language-python">print(1)</code></pre>')
    assert parsed.entities == [{"offset": 0, "length": 8, "type": "pre", "language": "python"}]
    assert json.loads(json.dumps(parsed.entities)) == parsed.entities
