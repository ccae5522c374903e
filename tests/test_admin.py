"""Running the team through the real bot: /admin, managing managers, statistics with its chart and CSV,
and everybody else refused — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import logging
import uuid
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.callbacks import StatsCallback, TeamAction, TeamCallback
from bot.states import ReplyMode
from models import AuditLog, ChatMessage, FsmState, Manager, SupportChat, VisitorSession, utcnow
from sandbox.bot_api import FakeUser, SentMessage
from support.stats import CSV_COLUMNS
from tests.clients import ADMIN, MANAGER, SECOND_MANAGER, STRANGER, admin_menu, forge, go_online, offer_to
from tests.conftest import Desk

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def say(desk: Desk, user: FakeUser, text: str) -> str:
    await desk.fake.send_message(user, text)
    return str((await desk.fake.wait_for_message(user.id)).text)


async def press(desk: Desk, user: FakeUser, message_id: int, button: str) -> dict[str, Any]:
    query_id = await desk.fake.press_button(user, message_id, button)
    return await desk.fake.wait_callback_answer(query_id)  # type: ignore[no-any-return]


async def team_list(desk: Desk, user: FakeUser = ADMIN) -> SentMessage:
    menu = await admin_menu(desk, user)
    await press(desk, user, menu.message_id, "👥 Управление менеджерами")
    return await desk.fake.wait_for_message(user.id, lambda m: (m.text or "").startswith("👥"))


def team_button(action: TeamAction, telegram_id: int = 0) -> str:
    return TeamCallback(action=action, telegram_id=telegram_id).pack()


async def open_card(desk: Desk, telegram_id: int, user: FakeUser = ADMIN) -> SentMessage:
    listing = await team_list(desk, user)
    await press(desk, user, listing.message_id, team_button(TeamAction.OPEN, telegram_id))
    card = await desk.fake.wait_for_edit(user.id, listing.message_id)
    assert f"<code>{telegram_id}</code>" in str(card.raw_text)
    return card


async def act(desk: Desk, card: SentMessage, button: str, user: FakeUser = ADMIN) -> tuple[dict[str, Any], str]:
    """Press a button of a manager's card; the answer, and the card's text afterwards."""
    answer = await press(desk, user, card.message_id, button)
    if answer.get("show_alert"):
        return answer, str(card.text)
    return answer, str((await desk.fake.wait_for_edit(user.id, card.message_id)).text)


async def audit() -> list[tuple[int, str, str]]:
    rows = await AuditLog.select().order_by(AuditLog.id).aio_execute()
    return [(row.actor_telegram_id, row.action, row.target) for row in rows]


async def manager_row(telegram_id: int) -> Manager:
    return await Manager.aio_get(Manager.telegram_id == telegram_id)


# --- the menu and the team -----------------------------------------------------------------------------


async def test_menu_lists_the_team_with_status_and_load(desk: Desk) -> None:
    assert "рабочее место" in await say(desk, MANAGER, "/start")
    assert "Смена начата" in await say(desk, MANAGER, "/online")
    assert "рабочее место" in await say(desk, SECOND_MANAGER, "/start")
    session = await VisitorSession.aio_create(session_id="s-load", token_hash="x")
    manager = await manager_row(MANAGER.id)
    await SupportChat.aio_create(session=session.id, manager=manager.id, status="assigned",
                               assigned_at=utcnow())

    listing = await team_list(desk)
    lines = str(listing.text).splitlines()
    anna = next(line for line in lines if "Анна Смирнова" in line)
    assert anna.startswith("🟢") and str(MANAGER.id) in anna and "активных чатов: 1" in anna
    boris = next(line for line in lines if "Борис" in line)
    assert boris.startswith("⚪️") and "активных чатов: 0" in boris
    assert "🟢 Анна Смирнова · 1" in listing.button_texts
    assert listing.button_texts[-1] == "➕ Добавить менеджера"

    # The queue view is still there, and the statistics of a period without chats say so without a chart.
    desk.product.dispatcher["stats"].clock = lambda: NOW
    menu = await admin_menu(desk)
    await press(desk, ADMIN, menu.message_id, "⏳ Очередь")
    assert "Очередь пуста" in str((await desk.fake.wait_for_message(ADMIN.id)).text)
    await press(desk, ADMIN, menu.message_id, "📊 Статистика")
    periods = await desk.fake.wait_for_message(ADMIN.id, lambda m: "За какой период" in (m.text or ""))
    assert periods.button_texts == ["📅 Сегодня", "🗓 7 дней", "🗓 30 дней"]
    await press(desk, ADMIN, periods.message_id, "📅 Сегодня")
    empty = await desk.fake.wait_for_message(ADMIN.id)
    assert "обращений к менеджерам не было" in str(empty.text)
    assert desk.fake.calls_of("sendPhoto") == [] and desk.fake.calls_of("sendDocument") == []


async def test_add_by_typed_id_then_the_person_can_work(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    desk.fake.register_user(ADMIN)
    listing = await team_list(desk)

    # /cancel leaves the step: a number typed afterwards adds nobody.
    await press(desk, ADMIN, listing.message_id, "➕ Добавить менеджера")
    assert "Telegram ID" in str((await desk.fake.wait_for_message(ADMIN.id)).text)
    assert "отменено" in await say(desk, ADMIN, "/cancel")
    await desk.fake.send_message(ADMIN, str(STRANGER.id))
    await desk.fake.wait_for_message(ADMIN.id)
    assert await Manager.select().where(Manager.telegram_id == STRANGER.id).aio_count() == 0

    await press(desk, ADMIN, listing.message_id, "➕ Добавить менеджера")
    await desk.fake.wait_for_message(ADMIN.id, lambda m: "Новый менеджер" in (m.text or ""))
    assert "Не похоже на Telegram ID" in await say(desk, ADMIN, "Вася")
    # The stranger never wrote to the bot, so the bot cannot tell them: the admin is asked to.
    added = await say(desk, ADMIN, f" {STRANGER.id} ")
    assert "добавлен(а) в команду" in added and "отправил /start" in added
    assert await audit() == [(ADMIN.id, "manager_add", str(STRANGER.id))]
    assert f"Team change by admin {ADMIN.id}: manager_add {STRANGER.id}" in caplog.text

    assert "рабочее место менеджера" in await say(desk, STRANGER, "/start")
    assert "Смена начата" in await say(desk, STRANGER, "/online")
    row = await manager_row(STRANGER.id)
    assert row.name == "Некто" and row.is_active and not row.is_admin

    # The step is over: the next number is just a message again, and adding the same person twice says so.
    await press(desk, ADMIN, listing.message_id, "➕ Добавить менеджера")
    await desk.fake.wait_for_message(ADMIN.id, lambda m: "Новый менеджер" in (m.text or ""))
    assert "уже в команде" in await say(desk, ADMIN, str(STRANGER.id))
    assert len(await audit()) == 1


async def test_add_by_forward_and_a_hidden_forward_is_refused_politely(desk: Desk) -> None:
    assert "нет доступа" in (await say(desk, STRANGER, "/start")).lower()
    listing = await team_list(desk)
    await press(desk, ADMIN, listing.message_id, "➕ Добавить менеджера")
    await desk.fake.wait_for_message(ADMIN.id, lambda m: "Новый менеджер" in (m.text or ""))

    await desk.fake.forward_message_from(ADMIN, STRANGER, hidden=True)
    refusal = str((await desk.fake.wait_for_message(ADMIN.id)).text)
    assert "скрывает свой аккаунт" in refusal and "числом" in refusal
    assert await Manager.select().where(Manager.telegram_id == STRANGER.id).aio_count() == 0

    # Still waiting: a plain forward now works, and the person is told (they have written to the bot).
    await desk.fake.forward_message_from(ADMIN, STRANGER, "Привет, добавь меня")
    added = str((await desk.fake.wait_for_message(ADMIN.id)).text)
    assert "Некто" in added and "добавлен(а)" in added and "Я написал ему" in added
    told = await desk.fake.wait_for_message(STRANGER.id)
    assert "открыт доступ" in str(told.text)
    row = await manager_row(STRANGER.id)
    assert row.name == "Некто" and row.is_active
    log = await AuditLog.aio_get(AuditLog.action == "manager_add")
    assert (log.actor_telegram_id, log.target) == (ADMIN.id, str(STRANGER.id)) and "via=forward" in log.details
    assert "рабочее место менеджера" in await say(desk, STRANGER, "/start")


async def test_disable_takes_access_at_once_and_enable_gives_it_back(desk: Desk) -> None:
    await say(desk, MANAGER, "/start")
    await say(desk, MANAGER, "/online")
    # A reply mode left open must not survive the disabling.
    storage = desk.product.dispatcher.storage
    key = StorageKey(bot_id=desk.product.bot.id, chat_id=MANAGER.id, user_id=MANAGER.id)
    await storage.set_state(key, ReplyMode.active)

    card = await open_card(desk, MANAGER.id)
    assert "на смене" in str(card.text)
    answer, text = await act(desk, card, "⛔ Отключить")
    assert "доступ отключён" in answer["text"] and "отключён" in text
    row = await manager_row(MANAGER.id)
    assert not row.is_active and not row.is_online
    assert "доступ" in str((await desk.fake.wait_for_message(MANAGER.id, lambda m: "отключён" in (m.text or ""))).text)
    assert "нет доступа" in (await say(desk, MANAGER, "/online")).lower()
    assert "нет доступа" in (await say(desk, MANAGER, "/start")).lower()
    assert await storage.get_state(key) is None

    # A second press (or a second admin) changes and logs nothing more.
    again = await forge(desk, ADMIN, card, team_button(TeamAction.DISABLE, MANAGER.id))
    assert "уже отключён" in again["text"]
    assert await audit() == [(ADMIN.id, "manager_disable", str(MANAGER.id))]
    listing = await team_list(desk)
    assert any(line.startswith("⛔") and "Анна" in line for line in str(listing.text).splitlines())

    card = await open_card(desk, MANAGER.id)
    answer, text = await act(desk, card, "✅ Включить")
    assert "снова открыт" in answer["text"] and "не на смене" in text
    await desk.fake.wait_for_message(MANAGER.id, lambda m: "снова открыт" in (m.text or ""))
    assert "рабочее место менеджера" in await say(desk, MANAGER, "/start")
    assert "Смена начата" in await say(desk, MANAGER, "/online")
    assert [a for _, a, _ in await audit()] == ["manager_disable", "manager_enable"]


async def test_make_admin_then_revoke(desk: Desk) -> None:
    await say(desk, MANAGER, "/start")
    await say(desk, SECOND_MANAGER, "/start")
    assert "Нет доступа" in await say(desk, SECOND_MANAGER, "/admin")

    card = await open_card(desk, SECOND_MANAGER.id)
    answer, text = await act(desk, card, "👑 Сделать админом")
    assert "теперь администратор" in answer["text"] and "Роль: администратор" in text
    assert "↩️ Снять админа" in desk.fake.message(ADMIN.id, card.message_id).button_texts
    assert (await manager_row(SECOND_MANAGER.id)).is_admin
    assert "/admin" in str((await desk.fake.wait_for_message(SECOND_MANAGER.id)).text)
    assert "admin" in [c["command"] for c in desk.fake.commands_for(SECOND_MANAGER)]

    # The new admin really is one: the menu opens, and their own changes are logged under their name.
    boris_card = await open_card(desk, MANAGER.id, user=SECOND_MANAGER)
    assert "↩️ Снять админа" not in boris_card.button_texts
    _, text = await act(desk, boris_card, "⛔ Отключить", user=SECOND_MANAGER)
    assert "отключён" in text
    # Admins of the configuration and the admin themselves are not theirs to change.
    own = await open_card(desk, SECOND_MANAGER.id, user=SECOND_MANAGER)
    assert "⛔ Отключить" not in own.button_texts and "↩️ Снять админа" not in own.button_texts
    refused = await forge(desk, SECOND_MANAGER, own, team_button(TeamAction.REVOKE_ADMIN, SECOND_MANAGER.id))
    assert refused["show_alert"] is True and "самого себя" in refused["text"]
    await say(desk, ADMIN, "/start")
    refused = await forge(desk, SECOND_MANAGER, own, team_button(TeamAction.DISABLE, ADMIN.id))
    assert refused["show_alert"] is True and "ADMIN_IDS" in refused["text"]
    assert (await manager_row(ADMIN.id)).is_active

    card = await open_card(desk, SECOND_MANAGER.id)
    answer, text = await act(desk, card, "↩️ Снять админа")
    assert "больше не администратор" in answer["text"] and "Роль: менеджер" in text
    await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "сняты" in (m.text or ""))
    assert "Нет доступа" in await say(desk, SECOND_MANAGER, "/admin")
    assert "admin" not in [c["command"] for c in desk.fake.commands_for(SECOND_MANAGER)]
    assert await audit() == [
        (ADMIN.id, "admin_grant", str(SECOND_MANAGER.id)),
        (SECOND_MANAGER.id, "manager_disable", str(MANAGER.id)),
        (ADMIN.id, "admin_revoke", str(SECOND_MANAGER.id)),
    ]


async def test_managers_and_strangers_cannot_use_the_admin_menu(desk: Desk) -> None:
    await say(desk, MANAGER, "/start")
    await say(desk, SECOND_MANAGER, "/start")
    card = await open_card(desk, SECOND_MANAGER.id)
    menu = await admin_menu(desk)
    listing = await team_list(desk)
    buttons = [
        (menu, "👥 Управление менеджерами"), (menu, "📊 Статистика"), (menu, "⏳ Очередь"),
        (listing, "➕ Добавить менеджера"), (listing, team_button(TeamAction.OPEN, MANAGER.id)),
        (card, "⛔ Отключить"), (card, "👑 Сделать админом"), (card, StatsCallback(days=30).pack()),
    ]
    for intruder in (MANAGER, STRANGER):
        assert "Нет доступа" in await say(desk, intruder, "/admin")
        own = desk.fake.messages(intruder.id)[-1]
        for message, button in buttons:
            # Modified clients can send any callback data: the bot checks who presses, not where.
            if button.startswith(("stats:", "team:")):
                answer = await forge(desk, intruder, own, button)
            else:
                own.reply_markup = message.reply_markup
                answer = await press(desk, intruder, own.message_id, button)
            assert answer["show_alert"] is True and "Нет доступа" in answer["text"], (intruder, button, answer)
        assert "Очередь" not in " ".join(str(m.text) for m in desk.fake.messages(intruder.id))
    # Nothing changed: no log, no access, no typed step, no statistics sent.
    assert await audit() == []
    boris = await manager_row(SECOND_MANAGER.id)
    assert boris.is_active and not boris.is_admin
    assert await FsmState.select().where(FsmState.state.is_null(False)).aio_count() == 0
    assert desk.fake.calls_of("sendPhoto") == [] and desk.fake.calls_of("sendDocument") == []
    assert "рабочее место менеджера" in await say(desk, MANAGER, "/start")


# --- statistics ---------------------------------------------------------------------------------------

NOW = dt.datetime(2026, 3, 18, 12, 0, 0)  # naive UTC, as stored: 15:00 in Moscow
TODAY = dt.datetime(2026, 3, 17, 21, 0, 0)  # midnight of 18.03 in the desk's zone (Europe/Moscow), in UTC
MIN = dt.timedelta(minutes=1)
SEC = dt.timedelta(seconds=1)


async def make_chat(
    manager: Manager | None, created: dt.datetime, *, first: int | None = None, close: int | None = None,
    reason: str | None = None, rating: int | None = None, comment: str | None = None, messages: int = 0,
    name: str | None = "Пётр", session_name: str | None = None,
) -> SupportChat:
    """A chat assigned right at creation + 30 s; first reply and closing given in seconds after assigning."""
    session = await VisitorSession.aio_create(session_id=uuid.uuid4().hex, token_hash="x", name=session_name)
    assigned = created + 30 * SEC if manager else None
    chat = await SupportChat.aio_create(
        session=session.id, manager=manager.id if manager else None, created_at=created, assigned_at=assigned,
        first_response_at=assigned + first * SEC if assigned and first is not None else None,
        closed_at=(assigned or created) + close * SEC if close is not None else None,
        status="closed" if close is not None else ("assigned" if manager else "waiting"),
        close_reason=reason, rating=rating, rating_comment=comment, client_name=name,
        client_phone="+7 900 123-45-67" if name else None, page_url="https://ilpo-taxi.ru/drivers",
    )
    for n in range(messages):
        await ChatMessage.aio_create(session=session.id, support_chat=chat.id, sender="user", text=f"m{n}")
    return chat


def block(text: str, name: str) -> str:
    """The lines of one manager in the statistics message."""
    return next(part for part in text.split("🧑‍💼 ")[1:] if part.startswith(name))


async def period(desk: Desk, message_id: int, button: str) -> tuple[str, SentMessage, bytes]:
    await press(desk, ADMIN, message_id, button)
    text = await desk.fake.wait_for_message(ADMIN.id, lambda m: "Статистика:" in (m.text or ""))
    photo = await desk.fake.wait_for_message(ADMIN.id, lambda m: m.kind == "photo", timeout=30)
    document = await desk.fake.wait_for_message(ADMIN.id, lambda m: m.kind == "document")
    assert document.document is not None and document.document.filename.endswith(".csv")
    assert photo.photo is not None
    return str(text.text), photo, document.document.data


async def test_statistics_numbers_chart_and_csv(desk: Desk) -> None:
    desk.product.dispatcher["stats"].clock = lambda: NOW
    anna = await Manager.aio_create(telegram_id=MANAGER.id, name="Анна Смирнова")
    boris = await Manager.aio_create(telegram_id=SECOND_MANAGER.id, name="Борис <b>")
    day = dt.timedelta(days=1)
    # Today.
    c1 = await make_chat(anna, TODAY + 9 * 60 * MIN, first=120, close=600, reason="manager", rating=5, messages=3)
    c2 = await make_chat(anna, TODAY + 10 * 60 * MIN, first=60, close=1800, reason="idle", rating=4, messages=2)
    c3 = await make_chat(boris, TODAY + 11 * 60 * MIN, first=30, messages=1)
    c4 = await make_chat(None, TODAY + 11 * 60 * MIN + 30 * MIN)
    # This week: a second before midnight is yesterday; an idle close nobody took counts for the team.
    c9 = await make_chat(None, TODAY - SEC, close=900, reason="idle", name=None, session_name="Из сессии")
    c5 = await make_chat(boris, TODAY - 3 * day, first=300, close=3600, reason="manager", rating=2,
                         comment="Долго, но помогли", name='=HYPERLINK("http://x")')
    c6 = await make_chat(anna, TODAY - 5 * day, first=90, close=900, reason="idle")
    # This month, and one older than a month that no period shows.
    await make_chat(boris, TODAY - 20 * day, first=600, close=7200, reason="manager", rating=3)
    await make_chat(anna, TODAY - 40 * day, first=1, close=2, reason="manager", rating=1)

    menu = await admin_menu(desk)
    await press(desk, ADMIN, menu.message_id, "📊 Статистика")
    periods = await desk.fake.wait_for_message(ADMIN.id, lambda m: "За какой период" in (m.text or ""))

    text, photo, _ = await period(desk, periods.message_id, "📅 Сегодня")
    assert "сегодня, 18.03.2026 (МСК)" in text
    assert "Обращений: 4 · принято: 3 · без менеджера: 1" in text
    assert "Первый ответ (медиана): 1 мин\n" in text and "До закрытия (медиана): 20 мин\n" in text
    assert "Закрыто по неактивности: 1" in text and "Оценки: 4,5 из 5 (2)" in text
    assert ("Принято: 2 · первый ответ: 1 мин 30 с · до закрытия: 20 мин\n"
            "По неактивности: 1 · оценки: 4,5 из 5 (2)") in block(text, "Анна Смирнова")
    assert ("Принято: 1 · первый ответ: 30 с · до закрытия: —\nПо неактивности: 0 · оценки: нет"
            in block(text, "Борис <b>"))  # shown literally: the name was escaped
    assert photo.photo is not None and photo.photo.data.startswith(PNG_SIGNATURE)
    assert photo.photo.size > 10_000
    # The chart's hours are the desk's: c1 came at 09:00 Moscow time (06:00 UTC), c3 and c4 at 11.
    today = await desk.product.dispatcher["stats"].period(1)
    assert today.zone_label == "МСК" and [b.label for b in today.buckets][:2] == ["00", "01"]
    assert {b.label: b.created for b in today.buckets if b.created} == {"09": 1, "10": 1, "11": 2}

    text, photo, data = await period(desk, periods.message_id, "🗓 7 дней")
    assert "7 дней, 12.03–18.03.2026 (МСК)" in text
    assert "Обращений: 7 · принято: 5 · без менеджера: 2" in text
    assert "Первый ответ (медиана): 1 мин 30 с\n" in text and "До закрытия (медиана): 22 мин 30 с\n" in text
    assert "Закрыто по неактивности: 3" in text and "Оценки: 3,7 из 5 (3)" in text
    assert "Принято: 3 · первый ответ: 1 мин 30 с · до закрытия: 15 мин" in block(text, "Анна Смирнова")
    assert "По неактивности: 2 · оценки: 4,5 из 5 (2)" in block(text, "Анна Смирнова")
    assert "Принято: 2 · первый ответ: 2 мин 45 с · до закрытия: 1 ч\n" in block(text, "Борис")
    assert "оценки: 2,0 из 5 (1)" in block(text, "Борис")
    assert photo.photo is not None and photo.photo.data.startswith(PNG_SIGNATURE)

    document = next(m for m in reversed(desk.fake.messages(ADMIN.id)) if m.kind == "document")
    assert "время МСК" in str(document.caption)
    assert data.startswith("\ufeff".encode())  # the BOM Excel needs to read Cyrillic as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    table = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [int(r["id"]) for r in table] == [c.id for c in (c6, c5, c9, c1, c2, c3, c4)]
    first = next(r for r in table if int(r["id"]) == c1.id)
    assert first == {
        "id": str(c1.id), "created_at": "2026-03-18T09:00:00+03:00", "assigned_at": "2026-03-18T09:00:30+03:00",
        "first_response_at": "2026-03-18T09:02:30+03:00", "closed_at": "2026-03-18T09:10:30+03:00",
        "status": "closed",
        "close_reason": "manager", "manager": "Анна Смирнова", "client_name": "Пётр",
        "client_phone": "+7 900 123-45-67", "page_url": "https://ilpo-taxi.ru/drivers", "rating": "5",
        "rating_comment": "", "message_count": "3",
    }
    fifth = next(r for r in table if int(r["id"]) == c5.id)
    assert fifth["manager"] == "Борис <b>" and fifth["rating_comment"] == "Долго, но помогли"
    assert fifth["client_name"] == "'=HYPERLINK(\"http://x\")"  # a visitor cannot plant a formula
    ninth = next(r for r in table if int(r["id"]) == c9.id)
    assert ninth["client_name"] == "Из сессии" and ninth["manager"] == "" and ninth["assigned_at"] == ""
    assert ninth["close_reason"] == "idle" and ninth["message_count"] == "0"

    text, _, data = await period(desk, periods.message_id, "🗓 30 дней")
    assert "Обращений: 8 · принято: 6 · без менеджера: 2" in text
    assert "Первый ответ (медиана): 1 мин 45 с\n" in text and "До закрытия (медиана): 30 мин\n" in text
    assert "Оценки: 3,5 из 5 (4)" in text
    assert "Принято: 3 · первый ответ: 5 мин · до закрытия: 1 ч 30 мин" in block(text, "Борис")
    assert "оценки: 2,5 из 5 (2)" in block(text, "Борис")
    assert len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))) == 1 + 8


async def test_disabling_a_manager_hands_their_open_chats_to_someone_else(desk: Desk) -> None:
    from tests.clients import SECOND_MANAGER, Visitor

    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    await visitor.transfer(name="Брошенный")
    offer = await offer_to(desk, MANAGER)
    await press(desk, MANAGER, offer.message_id, "✅ Принять чат")
    await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    await go_online(desk, SECOND_MANAGER)

    card = await open_card(desk, MANAGER.id)
    await act(desk, card, "⛔ Отключить")
    told = await visitor.wait_for(lambda e: "менеджер, не может продолжить этот чат" in e["text"])
    assert "Анна Смирнова" in told["text"]
    rerouted = await offer_to(desk, SECOND_MANAGER)
    assert "Брошенный" in rerouted.text
    await press(desk, SECOND_MANAGER, rerouted.message_id, "✅ Принять чат")
    joined = await visitor.wait_for(lambda e: e.get("chat", {}).get("manager") == "Борис")
    assert joined["chat"]["status"] == "assigned"


async def test_admin_assigns_a_queued_chat_to_a_chosen_manager(desk: Desk) -> None:
    from tests.clients import SECOND_MANAGER, Visitor

    await say(desk, SECOND_MANAGER, "/start")  # registered, not on shift: the queue holds the chat
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = int((await visitor.transfer(name="Назначаемый"))["support_chat_id"])
    menu = await admin_menu(desk)
    await press(desk, ADMIN, menu.message_id, "⏳ Очередь")
    queue = await desk.fake.wait_for_message(ADMIN.id, lambda m: "Ожидают менеджера" in (m.text or ""))
    await press(desk, ADMIN, queue.message_id, "👤 Назначить")
    choice = await desk.fake.wait_for_message(ADMIN.id, lambda m: "Кому назначить" in (m.text or ""))
    button = next(text for text in choice.button_texts if "Борис" in text)
    answer = await press(desk, ADMIN, choice.message_id, button)
    assert f"#{chat_id} назначен: Борис" in answer["text"]
    card = await desk.fake.wait_for_message(SECOND_MANAGER.id, lambda m: "передал" in (m.text or ""))
    assert "Назначаемый" in card.text and "💬 Ответить" in card.button_texts
    joined = await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "assigned")
    assert joined["chat"]["manager"] == "Борис"
    again = await press(desk, ADMIN, choice.message_id, button)  # a double tap changes nothing twice
    assert "назначен" in again["text"]
    await asyncio.sleep(0.3)
    assert len([m for m in desk.fake.messages(SECOND_MANAGER.id) if "передал" in (m.text or "")]) == 1
    assert len([e for e in await visitor.poll(after=0) if e.get("chat", {}).get("status") == "assigned"]) == 1
