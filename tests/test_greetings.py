"""Proactive greetings: an admin sets a rule up in /admin, the widget's page gets it once a day, and the
statistics count what came of it."""

from __future__ import annotations

from typing import Any

from models import GreetingRule
from support.greetings import matches
from tests.clients import ADMIN, press
from tests.conftest import Desk

VISITOR = "visitor-0001-abcdef"


async def ask(desk: Desk, url: str, visitor: str = VISITOR, returning: str = "0") -> tuple[int, Any]:
    async with desk.http.get(f"{desk.base_url}/api/chat/greeting",
                             params={"visitor": visitor, "url": url, "returning": returning}) as response:
        return response.status, await response.json()


async def tell(desk: Desk, rule_id: int, event: str, visitor: str = VISITOR) -> tuple[int, Any]:
    async with desk.http.post(f"{desk.base_url}/api/chat/greeting",
                              json={"visitor": visitor, "rule_id": rule_id, "event": event}) as response:
        return response.status, await response.json()


async def admin_step(desk: Desk, text: str, expect: str) -> Any:
    await desk.fake.send_message(ADMIN, text)
    return await desk.fake.wait_for_message(ADMIN.id, lambda m: expect in (m.text or ""))


async def click(desk: Desk, message: Any, button: str, expect: str) -> Any:
    await press(desk, ADMIN, message.message_id, button)
    return await desk.fake.wait_for_message(ADMIN.id, lambda m: expect in (m.text or ""))


def test_patterns() -> None:
    assert matches("*", "https://ilpo-taxi.ru/anything?x=1")
    assert matches("/tariffs*", "https://ilpo-taxi.ru/tariffs/econom")
    assert not matches("/tariffs*", "https://ilpo-taxi.ru/rent/tariffs")
    assert matches("https://ilpo-taxi.ru/rent*", "https://ilpo-taxi.ru/rent?car=1")


async def test_a_rule_made_in_admin_fires_once_a_day_and_is_counted(desk: Desk) -> None:
    menu = await admin_step(desk, "/admin", "Админ-меню")
    rules = await click(desk, menu, "👋 Приветствия", "Приветствия на сайте")
    assert "Правил пока нет" in rules.text
    await click(desk, rules, "➕ Новое приветствие", "шаг 1 из 3")
    await admin_step(desk, "не шаблон с пробелами", "без пробелов")  # a bad answer is explained, step kept
    await admin_step(desk, "/tariffs*", "Шаг 2 из 3")
    await admin_step(desk, "через минуту", "целое число")
    await admin_step(desk, "3", "Шаг 3 из 3")
    options = await admin_step(desk, "Подобрать тариф? Спросите меня!", "Проверьте приветствие")
    await press(desk, ADMIN, options.message_id, "⬜️ Открывать чат на компьютере")
    options = await desk.fake.wait_for_edit(ADMIN.id, options.message_id)
    assert "✅ Открывать чат на компьютере" in options.button_texts
    listed = await click(desk, options, "💾 Сохранить", "Приветствия на сайте")
    rule = await GreetingRule.aio_get()
    assert (rule.url_pattern, rule.delay_seconds, rule.open_on_desktop, rule.first_visit_only) == (
        "/tariffs*", 3, True, False)
    assert f"#{rule.id}" in listed.text and "показано: 0" in listed.text

    assert await ask(desk, "https://ilpo-taxi.ru/contacts") == (200, {"greeting": None})
    expected = {"rule_id": rule.id, "text": "Подобрать тариф? Спросите меня!", "delay_seconds": 3,
                "open_on_desktop": True}
    assert await ask(desk, "https://ilpo-taxi.ru/tariffs/econom") == (200, {"greeting": expected})
    assert (await tell(desk, rule.id, "shown"))[0] == 201
    # The same visitor, the same day: another tab's claim is refused and the page gets nothing more.
    assert (await tell(desk, rule.id, "shown"))[1]["error"] == "already_shown"
    assert await ask(desk, "https://ilpo-taxi.ru/tariffs/econom") == (200, {"greeting": None})
    # Another visitor still gets it.
    assert (await ask(desk, "https://ilpo-taxi.ru/tariffs", visitor="visitor-0002-abcdef"))[1]["greeting"]
    assert await tell(desk, rule.id, "opened") == (200, {"status": "opened", "counted": True})
    assert await tell(desk, rule.id, "opened") == (200, {"status": "opened", "counted": False})  # once
    assert await tell(desk, rule.id, "chat") == (200, {"status": "chat", "counted": True})
    # Nothing is counted for a visitor who was never shown the greeting.
    assert (await tell(desk, rule.id, "chat", visitor="visitor-0003-abcdef"))[1]["counted"] is False
    status, body = await tell(desk, rule.id, "clicked")
    assert status == 400 and body["error"] == "invalid_field"

    menu = await admin_step(desk, "/admin", "Админ-меню")
    periods = await click(desk, menu, "📊 Статистика", "За какой период")
    report = await click(desk, periods, "📅 Сегодня", "Статистика: сегодня")
    assert "👋 Приветствия: показано 1 · открыли чат 1 · начали диалог 1" in report.text


async def test_rule_conditions_and_switching_off(desk: Desk) -> None:
    greetings = desk.service.greetings
    first = await greetings.create(url_pattern="*", delay_seconds=0, text="Впервые у нас?", first_visit_only=True)
    assert (await ask(desk, "https://x.ru/", returning="1"))[1] == {"greeting": None}
    assert (await ask(desk, "https://x.ru/"))[1]["greeting"]["rule_id"] == first.id
    await greetings.set_active(first.id, False)
    assert (await ask(desk, "https://x.ru/"))[1] == {"greeting": None}
    assert (await tell(desk, first.id, "shown"))[0] == 409  # a switched-off rule cannot be claimed
    after_hours = await greetings.create(url_pattern="*", delay_seconds=0, text="Мы на связи",
                                         working_hours_only=True)
    assert (await ask(desk, "https://x.ru/"))[1]["greeting"]["rule_id"] == after_hours.id  # 00:00-24:00 here
    desk.service.policy = desk.service.policy.model_copy(update={"working_days": (8,)})  # nobody works today
    assert (await ask(desk, "https://x.ru/"))[1] == {"greeting": None}
    status, body = await ask(desk, "https://x.ru/", visitor="short")
    assert status == 400 and body["field"] == "visitor"
