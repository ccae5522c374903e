"""Saved replies, end to end: an admin keeps them in /admin, a manager sends them from a chat's card and through
inline mode, filled for that chat and escaped; the real aiogram bot against the fake Bot API."""

from __future__ import annotations

from html import escape

from bot.callbacks import TemplateAction, TemplateCallback
from models import AuditLog, ReplyTemplate
from tests.clients import (
    ADMIN,
    MANAGER,
    STRANGER,
    Visitor,
    accepted_chat,
    admin_menu,
    forge,
    go_online,
    is_type,
    press,
)
from tests.conftest import Desk

GREETING = "Здравствуйте, {name}! Меня зовут {manager}, я помогу с подключением."
DOCUMENTS = "Пришлите фото прав <b>и</b> паспорта сюда, в чат №{chat}."


async def answer_to(desk: Desk, text: str) -> str:
    await desk.fake.send_message(ADMIN, text)
    return str((await desk.fake.wait_for_message(ADMIN.id)).text)


async def test_an_admin_adds_edits_and_deletes_a_template(desk: Desk) -> None:
    await desk.fake.send_message(ADMIN, "/start")
    await desk.fake.wait_for_message(ADMIN.id)
    menu = await admin_menu(desk)
    await press(desk, ADMIN, menu.message_id, "📝 Шаблоны ответов")
    listing = await desk.fake.wait_for_message(ADMIN.id, lambda m: "Шаблоны ответов" in (m.text or ""))
    assert "Пока ни одного" in listing.text and "{name}" in listing.text

    await press(desk, ADMIN, listing.message_id, "➕ Добавить шаблон")
    assert "Новый шаблон" in str((await desk.fake.wait_for_message(ADMIN.id)).text)
    assert "Теперь текст шаблона" in await answer_to(desk, "Приветствие")
    refused = await answer_to(desk, "Здравствуйте, {nmae}!")
    assert "Неизвестные подстановки: {nmae}" in refused  # a typo never reaches a visitor
    assert await ReplyTemplate.select().aio_count() == 0
    saved_text = await answer_to(desk, GREETING)
    assert saved_text.startswith("✅ Шаблон сохранён.") and GREETING in saved_text
    template = await ReplyTemplate.select().aio_get()
    assert (template.title, template.text, template.created_by) == ("Приветствие", GREETING, ADMIN.id)
    saved = desk.fake.messages(ADMIN.id)[-1]

    await press(desk, ADMIN, saved.message_id, "✏️ Текст")
    assert "новый текст" in str((await desk.fake.wait_for_message(ADMIN.id)).text)
    assert "Шаблон изменён" in await answer_to(desk, "Добрый день, {name}!")
    edited = desk.fake.messages(ADMIN.id)[-1]
    await press(desk, ADMIN, edited.message_id, "🏷 Название")
    await desk.fake.wait_for_message(ADMIN.id)
    assert "/cancel" not in await answer_to(desk, "Привет")
    template = await ReplyTemplate.aio_get(ReplyTemplate.id == template.id)
    assert (template.title, template.text) == ("Привет", "Добрый день, {name}!")

    card = desk.fake.messages(ADMIN.id)[-1]
    await press(desk, ADMIN, card.message_id, "🗑 Удалить")
    confirm = await desk.fake.wait_for_edit(ADMIN.id, card.message_id)
    assert "Удалить шаблон «Привет»?" in confirm.text
    await press(desk, ADMIN, card.message_id, "🗑 Да, удалить")
    gone = await desk.fake.wait_for_edit(ADMIN.id, card.message_id, lambda m: "удалён" in (m.text or ""))
    assert "Пока ни одного" in gone.text
    assert await ReplyTemplate.select().aio_count() == 0
    actions = [row.action for row in await AuditLog.select().order_by(AuditLog.id).aio_execute()]
    assert actions == ["template_added", "template_edited", "template_edited", "template_deleted"]

    # A manager who is not an admin gets nothing from forged template buttons.
    await desk.fake.send_message(MANAGER, "/start")
    own = await desk.fake.wait_for_message(MANAGER.id)
    answer = await forge(desk, MANAGER, own, TemplateCallback(action=TemplateAction.ADD).pack())
    assert answer["show_alert"] is True and "Нет доступа" in answer["text"]


async def test_a_manager_sends_templates_from_the_card_and_through_inline_mode(desk: Desk) -> None:
    desk.fake.inline_mode = True
    templates = desk.service.templates
    await templates.add(ADMIN.id, "Приветствие", GREETING)
    documents = await templates.add(ADMIN.id, "Документы", DOCUMENTS)
    await go_online(desk, MANAGER)
    visitor = await Visitor(desk.http, desk.base_url).start()
    chat_id = await accepted_chat(desk, visitor)  # the client is «Пётр <Водитель>»

    # The card's «📝 Шаблоны»: the list, filled for this chat; a tap sends one.
    card = next(m for m in desk.fake.messages(MANAGER.id) if "📝 Шаблоны" in m.button_texts)
    await press(desk, MANAGER, card.message_id, "📝 Шаблоны")
    listing = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Шаблоны для чата" in (m.text or ""))
    assert listing.button_texts == ["1. Документы", "2. Приветствие", "🔎 Найти и изменить"]
    assert "Здравствуйте, Пётр <Водитель>! Меня зовут Анна Смирнова" in listing.text
    assert "Пётр &lt;Водитель&gt;" in listing.raw_text
    answer = await press(desk, MANAGER, listing.message_id, "2. Приветствие")
    assert answer["text"] == "✅ Шаблон отправлен клиенту"
    greeting = await visitor.wait_for(is_type("manager_message"))
    assert greeting["text"] == "Здравствуйте, Пётр <Водитель>! Меня зовут Анна Смирнова, я помогу с подключением."
    assert "<Водитель>" not in greeting["html"] and "&lt;Водитель&gt;" in greeting["html"]

    # Inline mode from the list's button: the chat is named in the query, results are filtered and filled.
    search = next(b for b in listing.buttons if "switch_inline_query_current_chat" in b)
    assert search["switch_inline_query_current_chat"] == f"#{chat_id} "
    query_id = await desk.fake.inline_query(MANAGER, f"#{chat_id} паспорт")
    inline = await desk.fake.wait_inline_answer(query_id)
    assert inline["is_personal"] is True
    assert [r["id"] for r in inline["results"]] == ["typed", f"t{documents.id}"]
    filled = f"Пришлите фото прав <b>и</b> паспорта сюда, в чат №{chat_id}."
    result = inline["results"][1]
    assert result["title"] == "Документы"
    assert result["input_message_content"] == {"message_text": escape(filled), "parse_mode": "HTML"}
    await desk.fake.choose_inline_result(MANAGER, query_id, f"t{documents.id}")
    sent = await visitor.wait_for(lambda e: e["type"] == "manager_message" and "паспорта" in e["text"])
    assert sent["text"] == filled  # literally, tags and all: it was the manager's text, not markup
    assert "<b>" not in sent["html"]
    confirmation = await desk.fake.wait_for_message(MANAGER.id, lambda m: "Отправлено клиенту" in (m.text or ""))
    assert f"чат #{chat_id}" in confirmation.text

    # Without a chat in the query, the chat in reply mode is the one.
    query_id = await desk.fake.inline_query(MANAGER, "здравствуйте")
    inline = await desk.fake.wait_inline_answer(query_id)
    assert [r["title"] for r in inline["results"]] == ["✏️ Отправить этот текст", "Приветствие"]
    assert "Пётр &lt;Водитель&gt;" in inline["results"][1]["input_message_content"]["message_text"]

    # Strangers get nothing; a chat the manager does not work on gets a refusal, not its templates.
    query_id = await desk.fake.inline_query(STRANGER, "здравствуйте")
    assert (await desk.fake.wait_inline_answer(query_id))["results"] == []
    query_id = await desk.fake.inline_query(MANAGER, f"#{chat_id + 100} здравствуйте")
    refused = await desk.fake.wait_inline_answer(query_id)
    assert refused["results"] == [] and refused["button"]["text"] == "Чат не найден."
    messages = [e for e in await visitor.poll(after=0) if e["type"] == "manager_message"]
    assert len(messages) == 2


def test_a_nameless_client_is_called_a_guest_in_their_own_language() -> None:
    from support.contracts import ChatCard
    from support.templates import TemplateContext, fill

    def card(locale: str, name: str | None = None) -> ChatCard:
        return ChatCard(chat_id=7, session_id="s", status="assigned", client_name=name, client_phone=None,
                        page_url=None, created_at=None, manager_name="Анна", manager_telegram_id=1,
                        visitor_locale=locale)

    assert fill("Здравствуйте, {name}!", TemplateContext.of(card("ru"), "Анна")) == "Здравствуйте, Гость!"
    assert fill("Hello, {name}!", TemplateContext.of(card("en"), "Anna")) == "Hello, Guest!"
    assert fill("Hello, {name}!", TemplateContext.of(card("en", "Иван"), "Anna")) == "Hello, Иван!"
