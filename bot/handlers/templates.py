"""Saved replies: admins keep them in /admin; managers send them without leaving the chat.

A manager reaches them two ways: «📝 Шаблоны» on a chat's card lists them filled for that chat (a tap sends one),
and inline mode («@bot #12 …» in the input field, which «🔎 Найти и изменить» and the co-pilot's «✏️ Изменить»
put there) answers with the templates matching what is typed, plus what is typed itself. A result the manager
chooses is sent into their chat with the bot; in a chat's topic it goes to that topic's client, elsewhere it
carries a «💬 Чат #12» button, and that button's chat is where the text goes (the chat in reply mode when the
query named none).
"""

from __future__ import annotations

import re
from html import escape

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Message,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    AdminAction,
    AdminCallback,
    ChatAction,
    ChatCallback,
    TemplateAction,
    TemplateCallback,
    TemplatePick,
)
from bot.copilot import chat_query
from bot.handlers.admin import MESSAGE_BUDGET, NO_ACCESS
from bot.handlers.chats import deliver_reply
from bot.handlers.errors import refusal
from bot.i18n import N_, _, reason_of
from bot.middlewares import IsAdmin, IsManager
from bot.render import client_label
from bot.states import ReplyMode, TemplateEdit
from models import ChatStatus, Manager, ReplyTemplate
from support.contracts import ChatCard, NotAllowed, SupportError
from support.service import SupportService
from support.templates import TITLE_LIMIT, TemplateContext, TemplateError, check_title, fill

INLINE_RESULTS = 50  # Telegram's most per answer
PREVIEW = 90
HELP = N_("Подстановки: <code>{name}</code> — имя клиента, <code>{manager}</code> — имя менеджера, "
          "<code>{chat}</code> — номер чата.")
_CHAT_QUERY = re.compile(r"^#(\d+)\s?(.*)$", re.DOTALL)


def _short(text: str, limit: int = PREVIEW) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- admins: the list, one template, the typed steps ------------------------------------------------


def list_text(templates: list[ReplyTemplate]) -> str:
    if not templates:
        return _("📝 <b>Шаблоны ответов</b>\n\nПока ни одного. Нажмите «➕ Добавить шаблон».") + "\n\n" + _(HELP)
    lines = [_("📝 <b>Шаблоны ответов ({count})</b>").format(count=len(templates)), ""]
    for shown, template in enumerate(templates):
        line = f"• <b>{escape(template.title)}</b> — {escape(_short(template.text, 60))}"
        if sum(len(part) + 1 for part in lines) + len(line) > MESSAGE_BUDGET - len(_(HELP)):
            lines.append(_("…и ещё {count}").format(count=len(templates) - shown))
            break
        lines.append(line)
    return "\n".join([*lines, "", _(HELP)])


def list_keyboard(templates: list[ReplyTemplate]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for template in templates[:90]:
        builder.button(text=_short(template.title, 30),
                       callback_data=TemplateCallback(action=TemplateAction.OPEN, template_id=template.id))
    builder.adjust(2)
    builder.row(InlineKeyboardButton(text=_("➕ Добавить шаблон"),
                                     callback_data=TemplateCallback(action=TemplateAction.ADD).pack()))
    return builder.as_markup()


def template_text(template: ReplyTemplate) -> str:
    return f"📝 <b>{escape(template.title)}</b>\n\n{escape(template.text)}"


def template_keyboard(template: ReplyTemplate) -> InlineKeyboardMarkup:
    def button(text: str, action: TemplateAction, template_id: int = template.id) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=TemplateCallback(
            action=action, template_id=template_id).pack())

    return InlineKeyboardMarkup(inline_keyboard=[
        [button(_("🏷 Название"), TemplateAction.EDIT_TITLE), button(_("✏️ Текст"), TemplateAction.EDIT_TEXT),
         button(_("🗑 Удалить"), TemplateAction.DELETE)],
        [button(_("◀️ К списку"), TemplateAction.LIST, 0)],
    ])


async def _show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)
    else:
        assert query.bot is not None
        await query.bot.send_message(query.from_user.id, text, reply_markup=markup)


async def templates_from_admin_menu(query: CallbackQuery, bot: Bot, service: SupportService) -> None:
    templates = await service.templates.all()
    await query.answer()
    await bot.send_message(query.from_user.id, list_text(templates), reply_markup=list_keyboard(templates))


async def template_list(query: CallbackQuery, service: SupportService) -> None:
    templates = await service.templates.all()
    await _show(query, list_text(templates), list_keyboard(templates))


async def template_card(query: CallbackQuery, callback_data: TemplateCallback, service: SupportService) -> None:
    template = await service.templates.get(callback_data.template_id)
    await _show(query, template_text(template), template_keyboard(template))


async def ask_delete(query: CallbackQuery, callback_data: TemplateCallback, service: SupportService) -> None:
    template = await service.templates.get(callback_data.template_id)
    markup = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=_("🗑 Да, удалить"), callback_data=TemplateCallback(
            action=TemplateAction.CONFIRM_DELETE, template_id=template.id).pack()),
        InlineKeyboardButton(text=_("◀️ Нет"), callback_data=TemplateCallback(
            action=TemplateAction.OPEN, template_id=template.id).pack()),
    ]])
    await _show(query, _("🗑 Удалить шаблон «{title}»? Менеджеры больше не увидят его.").format(
        title=escape(template.title)), markup)


async def delete(query: CallbackQuery, callback_data: TemplateCallback, service: SupportService) -> None:
    template = await service.templates.delete(query.from_user.id, callback_data.template_id)
    templates = await service.templates.all()
    await _show(query, _("🗑 Шаблон «{title}» удалён.").format(title=escape(template.title)) + "\n\n"
                + list_text(templates),
                list_keyboard(templates))


async def start_adding(query: CallbackQuery, bot: Bot, state: FSMContext) -> None:
    await state.set_state(TemplateEdit.title)
    await query.answer()
    await bot.send_message(query.from_user.id, _(
        "➕ <b>Новый шаблон</b>\n\nПришлите название (до {limit} символов): его менеджеры видят в списке. "
        "/cancel — отменить.").format(limit=TITLE_LIMIT))


async def start_editing(
    query: CallbackQuery, callback_data: TemplateCallback, bot: Bot, service: SupportService, state: FSMContext
) -> None:
    template = await service.templates.get(callback_data.template_id)
    await state.set_state(TemplateEdit.new_title if callback_data.action == TemplateAction.EDIT_TITLE
                          else TemplateEdit.new_text)
    await state.update_data(template_id=template.id)
    await query.answer()
    title = escape(template.title)
    ask = (_("✏️ Шаблон «{title}»: пришлите новое название").format(title=title)
           if callback_data.action == TemplateAction.EDIT_TITLE
           else _("✏️ Шаблон «{title}»: пришлите новый текст.").format(title=title) + " " + _(HELP))
    await bot.send_message(query.from_user.id, ask + "\n" + _("/cancel — отменить."))


async def title_typed(message: Message, state: FSMContext) -> None:
    assert message.text is not None
    try:
        title = check_title(message.text)
    except TemplateError as error:
        await message.answer(escape(reason_of(error)) + " " + _("Пришлите другое название или /cancel."))
        return
    await state.set_state(TemplateEdit.text)
    await state.update_data(title=title)
    await message.answer(_("Теперь текст шаблона.") + " " + _(HELP) + "\n" + _("/cancel — отменить."))


async def text_typed(message: Message, service: SupportService, state: FSMContext) -> None:
    assert message.text is not None and message.from_user is not None
    title = str((await state.get_data())["title"])
    try:
        template = await service.templates.add(message.from_user.id, title, message.text)
    except TemplateError as error:
        await message.answer(escape(reason_of(error)) + " " + _("Пришлите текст ещё раз или /cancel."))
        return
    await state.clear()
    await message.answer(_("✅ Шаблон сохранён.") + "\n\n" + template_text(template),
                         reply_markup=template_keyboard(template))


async def change_typed(message: Message, service: SupportService, state: FSMContext) -> None:
    assert message.text is not None and message.from_user is not None
    template_id = int((await state.get_data())["template_id"])
    changing_title = await state.get_state() == TemplateEdit.new_title.state
    try:
        template = await service.templates.edit(
            message.from_user.id, template_id,
            **({"title": message.text} if changing_title else {"text": message.text}))
    except TemplateError as error:
        await message.answer(escape(reason_of(error)) + " " + _("Попробуйте ещё раз или /cancel."))
        return
    await state.clear()
    await message.answer(_("✅ Шаблон изменён.") + "\n\n" + template_text(template),
                         reply_markup=template_keyboard(template))


async def cancel(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("↩️ Шаблон не изменён."))


async def leave(message: Message, state: FSMContext) -> None:
    """Another command ends the step and then does what it always does."""
    await state.clear()
    raise SkipHandler


async def not_text(message: Message) -> None:
    await message.answer(_("Пришлите текстом, пожалуйста. /cancel — отменить."))


async def refuse(query: CallbackQuery) -> None:
    await query.answer(_(NO_ACCESS), show_alert=True)


# --- managers: the card's button, inline mode, what inline mode sent ---------------------------------


async def _chat_for(service: SupportService, manager: Manager, chat_id: int) -> ChatCard:
    """The open chat this manager answers in (its manager or an invited colleague), or NotAllowed."""
    card = await service.queries.chat_card(chat_id, manager)
    if not card.works_on(manager.telegram_id) or card.status != ChatStatus.ASSIGNED:
        raise NotAllowed(chat_id)
    return card


def _thread_of(query: CallbackQuery) -> int | None:
    """The topic the pressed message is in: what it leads to goes there too (None: the general thread)."""
    message = query.message
    return message.message_thread_id if isinstance(message, Message) and message.is_topic_message else None


async def for_chat(
    query: CallbackQuery, callback_data: ChatCallback, bot: Bot, service: SupportService, manager: Manager
) -> None:
    card = await _chat_for(service, manager, callback_data.chat_id)
    templates = await service.templates.all()
    if not templates:
        await query.answer(_("Шаблонов пока нет: их добавляет администратор в /admin."), show_alert=True)
        return
    await query.answer()
    context = TemplateContext.of(card, manager.display_name)
    lines = [_("📝 <b>Шаблоны для чата #{chat_id}</b> · {client}").format(chat_id=card.chat_id,
                                                                         client=client_label(card)),
             _("Нажмите, чтобы отправить клиенту:"), ""]
    builder = InlineKeyboardBuilder()
    for n, template in enumerate(templates[:90], 1):
        line = f"{n}. <b>{escape(template.title)}</b> — {escape(_short(fill(template.text, context)))}"
        if sum(len(part) + 1 for part in lines) + len(line) < MESSAGE_BUDGET:
            lines.append(line)
        builder.button(text=f"{n}. {_short(template.title, 28)}",
                       callback_data=TemplatePick(template_id=template.id, chat_id=card.chat_id))
    builder.adjust(2)
    if (await bot.get_me()).supports_inline_queries:
        builder.row(InlineKeyboardButton(text=_("🔎 Найти и изменить"),
                                         switch_inline_query_current_chat=chat_query(card.chat_id)))
    await bot.send_message(manager.telegram_id, "\n".join(lines), reply_markup=builder.as_markup(),
                           message_thread_id=_thread_of(query))


async def pick(
    query: CallbackQuery, callback_data: TemplatePick, bot: Bot, service: SupportService, manager: Manager
) -> None:
    card = await _chat_for(service, manager, callback_data.chat_id)
    template = await service.templates.get(callback_data.template_id)
    text = fill(template.text, TemplateContext.of(card, manager.display_name))
    await service.relay.manager_reply(manager, card.chat_id, text, telegram_callback_id=query.id)
    await query.answer(_("✅ Шаблон отправлен клиенту"))
    await bot.send_message(manager.telegram_id, _("✅ Отправлено клиенту (чат #{chat_id}): «{title}»").format(
        chat_id=card.chat_id, title=escape(template.title)) + f"\n\n{escape(text)}",
        message_thread_id=_thread_of(query))


def _article(result_id: str, title: str, text: str, chat_id: int) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=result_id, title=title, description=_short(text),
        input_message_content=InputTextMessageContent(message_text=escape(text), parse_mode="HTML"),
        # The chat the text is for travels with it (see sent_via_inline).
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("💬 Чат #{chat_id}").format(chat_id=chat_id),
            callback_data=ChatCallback(action=ChatAction.REPLY, chat_id=chat_id).pack())]]),
    )


async def inline(query: InlineQuery, service: SupportService, manager: Manager, state: FSMContext) -> None:
    named = _CHAT_QUERY.match(query.query)
    typed = named.group(2) if named else query.query
    chat_id = int(named.group(1)) if named else None
    if chat_id is None and await state.get_state() == ReplyMode.active.state:
        chat_id = (await state.get_data()).get("chat_id")
    if chat_id is None:
        await query.answer([], is_personal=True, cache_time=0, button=InlineQueryResultsButton(
            text=_("Сначала выберите чат: «📝 Шаблоны» у его карточки"), start_parameter="templates"))
        return
    try:
        card = await _chat_for(service, manager, int(chat_id))
    except SupportError as error:
        await query.answer([], is_personal=True, cache_time=0, button=InlineQueryResultsButton(
            text=_short(refusal(error), 60), start_parameter="templates"))
        return
    results = []
    if typed.strip():
        results.append(_article("typed", _("✏️ Отправить этот текст"), typed.strip(), card.chat_id))
    context = TemplateContext.of(card, manager.display_name)
    for template in await service.templates.find(typed):
        results.append(_article(f"t{template.id}", template.title, fill(template.text, context), card.chat_id))
    await query.answer(results[:INLINE_RESULTS], is_personal=True, cache_time=0)


async def no_inline_for_strangers(query: InlineQuery) -> None:
    await query.answer([], is_personal=True, cache_time=0)


def _chat_of_markup(message: Message) -> int | None:
    """The chat named by the «💬 Чат #N» button an inline result carries."""
    markup = message.reply_markup
    for row in markup.inline_keyboard if markup else []:
        for button in row:
            try:
                data = ChatCallback.unpack(button.callback_data or "")
            except (TypeError, ValueError):
                continue
            if data.action == ChatAction.REPLY:
                return data.chat_id
    return None


async def sent_via_inline(
    message: Message, bot: Bot, service: SupportService, manager: Manager, state: FSMContext
) -> None:
    """A template or an edited suggestion the manager sent through inline mode: it goes to its chat's client —
    the chat of the topic it was sent in, else the chat its «💬 Чат #N» button names."""
    assert message.via_bot is not None
    if message.via_bot.id != bot.id:
        raise SkipHandler  # another bot's inline result: reply mode treats it as any text
    chat_id: int | None = None
    if message.is_topic_message and message.message_thread_id:
        chat_id = await service.topics.chat_for_thread(manager, message.message_thread_id)
    if chat_id is None:
        chat_id = _chat_of_markup(message)
    if chat_id is None and await state.get_state() == ReplyMode.active.state:
        chat_id = (await state.get_data()).get("chat_id")
    if chat_id is None:
        await message.answer(_("Не понял, какому клиенту это отправить: выберите шаблон через «📝 Шаблоны» у чата."))
        return
    await deliver_reply(message, service, manager, int(chat_id))


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="templates")
    admin_only = IsAdmin()
    router.callback_query.register(templates_from_admin_menu,
                                   AdminCallback.filter(F.action == AdminAction.TEMPLATES), admin_only)
    router.callback_query.register(template_list, TemplateCallback.filter(F.action == TemplateAction.LIST),
                                   admin_only)
    router.callback_query.register(template_card, TemplateCallback.filter(F.action == TemplateAction.OPEN),
                                   admin_only)
    router.callback_query.register(start_adding, TemplateCallback.filter(F.action == TemplateAction.ADD),
                                   admin_only)
    router.callback_query.register(start_editing, TemplateCallback.filter(
        F.action.in_({TemplateAction.EDIT_TITLE, TemplateAction.EDIT_TEXT})), admin_only)
    router.callback_query.register(ask_delete, TemplateCallback.filter(F.action == TemplateAction.DELETE), admin_only)
    router.callback_query.register(delete, TemplateCallback.filter(F.action == TemplateAction.CONFIRM_DELETE),
                                   admin_only)
    router.callback_query.register(refuse, TemplateCallback.filter())
    router.callback_query.register(for_chat, ChatCallback.filter(F.action == ChatAction.TEMPLATES), IsManager())
    router.callback_query.register(pick, TemplatePick.filter(), IsManager())
    router.inline_query.register(inline, IsManager())
    router.inline_query.register(no_inline_for_strangers)
    router.message.register(sent_via_inline, F.via_bot, F.text, IsManager())
    return router


def build_steps_router() -> Router:
    """The admin's typed steps; the dispatcher puts it first so /cancel and the texts reach it."""
    router = Router(name="template-steps")
    router.message.filter(StateFilter(TemplateEdit), IsAdmin())
    router.message.register(cancel, Command("cancel"))
    router.message.register(leave, F.text.startswith("/"))
    router.message.register(title_typed, TemplateEdit.title, F.text)
    router.message.register(text_typed, TemplateEdit.text, F.text)
    router.message.register(change_typed, StateFilter(TemplateEdit.new_title, TemplateEdit.new_text), F.text)
    router.message.register(not_text)
    return router

