"""/admin → «👋 Приветствия»: proactive greetings for the widget (support/greetings.py keeps the rules).

A new rule is asked for step by step (GreetingForm): the page pattern, the seconds on the page, the text, then
three yes/no options on buttons and «Сохранить». /cancel leaves at any step.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import GreetingAction, GreetingCallback
from bot.handlers.admin import refuse_button
from bot.i18n import N_, _, reason_of
from bot.middlewares import IsAdmin
from bot.states import GreetingForm
from models import GreetingRule
from support.greetings import GreetingError, GreetingFigures, check_delay, check_pattern, check_text
from support.service import SupportService

FLAGS = {
    "first_visit_only": N_("Только при первом визите"),
    "working_hours_only": N_("Только в рабочие часы"),
    "open_on_desktop": N_("Открывать чат на компьютере"),
}
ASK_PATTERN = N_("👋 <b>Новое приветствие</b> (шаг 1 из 3)\n\nНа каких страницах показывать? Пришлите шаблон адреса:\n"
                 "<code>*</code> — на всех, <code>/tariffs*</code> — на страницах, чей путь начинается с /tariffs, "
                 "<code>https://ilpo-taxi.ru/rent*</code> — по полному адресу.\n\n/cancel — отменить.")
ASK_DELAY = N_("Шаг 2 из 3. Через сколько секунд на странице показать приветствие? Число от 0 до 3600.")
ASK_TEXT = N_("Шаг 3 из 3. Текст приветствия (его увидит посетитель сайта):")


def _rule_line(rule: GreetingRule, figures: GreetingFigures | None) -> str:
    flags = [_(label) for flag, label in FLAGS.items() if getattr(rule, flag)]
    shown, opened, chats = (figures.shown, figures.opened, figures.chats) if figures else (0, 0, 0)
    state = "🟢" if rule.is_active else "⏸"
    return (_("{state} <b>#{rule_id}</b> <code>{pattern}</code>, через {seconds} с").format(
                state=state, rule_id=rule.id, pattern=escape(rule.url_pattern), seconds=rule.delay_seconds)
            + (f" · {', '.join(flags).lower()}" if flags else "")
            + f"\n«{escape(rule.text[:120])}»\n"
            + _("👁 показано: {shown} · 💬 открыли: {opened} · ✉️ начали чат: {chats}").format(
                shown=shown, opened=opened, chats=chats))


async def list_rules(query: CallbackQuery, service: SupportService) -> None:
    await query.answer()
    if query.message is not None:
        text, markup = await rules_view(service)
        await query.message.answer(text, reply_markup=markup)


async def rules_view(service: SupportService) -> tuple[str, InlineKeyboardMarkup]:
    rules, figures = await service.greetings.rules(), await service.greetings.figures()
    lines = [_("👋 <b>Приветствия на сайте</b>"), ""]
    lines += [_rule_line(rule, figures.get(rule.id)) + "\n" for rule in rules] or [_("Правил пока нет.")]
    builder = InlineKeyboardBuilder()
    for rule in rules:
        builder.button(text=(_("⏸ Выключить #{rule_id}") if rule.is_active else _("▶️ Включить #{rule_id}")).format(
                           rule_id=rule.id),
                       callback_data=GreetingCallback(action=GreetingAction.TOGGLE, rule_id=rule.id))
        builder.button(text=_("🗑 Удалить #{rule_id}").format(rule_id=rule.id),
                       callback_data=GreetingCallback(action=GreetingAction.DELETE, rule_id=rule.id))
    builder.button(text=_("➕ Новое приветствие"), callback_data=GreetingCallback(action=GreetingAction.ADD))
    builder.adjust(*([2] * len(rules)), 1)
    return "\n".join(lines), builder.as_markup()


async def toggle_rule(query: CallbackQuery, callback_data: GreetingCallback, service: SupportService) -> None:
    rule = await service.greetings.rule(callback_data.rule_id)
    if rule is None:
        await query.answer(_("Такого правила уже нет."), show_alert=True)
        return
    await service.greetings.set_active(rule.id, not rule.is_active)
    await query.answer((_("#{rule_id}: выключено") if rule.is_active else _("#{rule_id}: включено")).format(
        rule_id=rule.id))
    await _refresh(query, service)


async def delete_rule(query: CallbackQuery, callback_data: GreetingCallback, service: SupportService) -> None:
    deleted = await service.greetings.delete(callback_data.rule_id)
    await query.answer(_("🗑 #{rule_id} удалено.").format(rule_id=callback_data.rule_id) if deleted
                       else _("Такого правила уже нет."))
    await _refresh(query, service)


async def _refresh(query: CallbackQuery, service: SupportService) -> None:
    if isinstance(query.message, Message):
        text, markup = await rules_view(service)
        await query.message.edit_text(text, reply_markup=markup)


async def start_rule(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(GreetingForm.pattern)
    await state.set_data({flag: False for flag in FLAGS})
    await query.answer()
    if query.message is not None:
        await query.message.answer(_(ASK_PATTERN))


async def _accept_step(
    message: Message, state: FSMContext, check: Callable[[str], object], key: str, next_step: State
) -> bool:
    """Keeps one checked answer of the form and moves to ``next_step``; a bad answer gets its reason instead."""
    try:
        value = check(message.text or "")
    except GreetingError as exc:
        await message.answer(f"⚠️ {reason_of(exc)}")
        return False
    await state.update_data({key: value})
    await state.set_state(next_step)
    return True


async def got_pattern(message: Message, state: FSMContext) -> None:
    if await _accept_step(message, state, check_pattern, "url_pattern", GreetingForm.delay):
        await message.answer(_(ASK_DELAY))


async def got_delay(message: Message, state: FSMContext) -> None:
    if await _accept_step(message, state, check_delay, "delay_seconds", GreetingForm.text):
        await message.answer(_(ASK_TEXT))


async def got_text(message: Message, state: FSMContext) -> None:
    if await _accept_step(message, state, check_text, "text", GreetingForm.options):
        text, markup = options_view(await state.get_data())
        await message.answer(text, reply_markup=markup)


def options_view(data: dict[str, object]) -> tuple[str, InlineKeyboardMarkup]:
    text = _("👋 <b>Проверьте приветствие</b>\n\nСтраницы: <code>{pattern}</code>\nЧерез: {seconds} с\n"
             "Текст: «{text}»\n\nНастройки — нажмите, чтобы переключить:").format(
        pattern=escape(str(data["url_pattern"])), seconds=data["delay_seconds"], text=escape(str(data["text"])))
    builder = InlineKeyboardBuilder()
    for flag, label in FLAGS.items():
        builder.button(text=f"{'✅' if data.get(flag) else '⬜️'} {_(label)}",
                       callback_data=GreetingCallback(action=GreetingAction.FLAG, flag=flag))
    builder.button(text=_("💾 Сохранить"), callback_data=GreetingCallback(action=GreetingAction.SAVE))
    builder.adjust(1)
    return text, builder.as_markup()


async def toggle_flag(query: CallbackQuery, callback_data: GreetingCallback, state: FSMContext) -> None:
    if callback_data.flag not in FLAGS:
        await query.answer(_("Нет такой настройки."), show_alert=True)
        return
    data = await state.get_data()
    await state.update_data({callback_data.flag: not data.get(callback_data.flag)})
    await query.answer()
    if isinstance(query.message, Message):
        text, markup = options_view(await state.get_data())
        await query.message.edit_text(text, reply_markup=markup)


async def save_rule(query: CallbackQuery, state: FSMContext, service: SupportService) -> None:
    data = await state.get_data()
    await state.clear()
    rule = await service.greetings.create(
        url_pattern=str(data["url_pattern"]), delay_seconds=int(data["delay_seconds"]), text=str(data["text"]),
        **{flag: bool(data.get(flag)) for flag in FLAGS}, created_by=query.from_user.id,
    )
    await query.answer(_("✅ Приветствие #{rule_id} сохранено.").format(rule_id=rule.id))
    if query.message is not None:
        text, markup = await rules_view(service)
        await query.message.answer(text, reply_markup=markup)


async def stale_form(query: CallbackQuery) -> None:
    await query.answer(_("Эта настройка уже не действует: начните заново в /admin → 👋 Приветствия."), show_alert=True)


async def cancel(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("Новое приветствие отменено."))


async def not_text(message: Message) -> None:
    await message.answer(_("Пришлите текстом, пожалуйста. /cancel — отменить."))


def build_router() -> Router:
    router = Router(name="greetings")
    admin_only = IsAdmin()
    router.callback_query.register(list_rules, GreetingCallback.filter(F.action == GreetingAction.LIST), admin_only)
    router.callback_query.register(start_rule, GreetingCallback.filter(F.action == GreetingAction.ADD), admin_only)
    router.callback_query.register(toggle_rule, GreetingCallback.filter(F.action == GreetingAction.TOGGLE),
                                   admin_only)
    router.callback_query.register(delete_rule, GreetingCallback.filter(F.action == GreetingAction.DELETE),
                                   admin_only)
    in_options = StateFilter(GreetingForm.options)
    router.callback_query.register(toggle_flag, GreetingCallback.filter(F.action == GreetingAction.FLAG), in_options,
                                   admin_only)
    router.callback_query.register(save_rule, GreetingCallback.filter(F.action == GreetingAction.SAVE), in_options,
                                   admin_only)
    router.callback_query.register(stale_form, GreetingCallback.filter(), admin_only)
    router.callback_query.register(refuse_button, GreetingCallback.filter())  # an old menu after a demotion
    return router


def build_steps_router() -> Router:
    """The typed steps; the dispatcher puts this before the general handlers so /cancel and the text reach it."""
    router = Router(name="greeting-steps")
    router.message.filter(StateFilter(GreetingForm.pattern, GreetingForm.delay, GreetingForm.text,
                                      GreetingForm.options), IsAdmin())
    router.message.register(cancel, Command("cancel"))
    router.message.register(got_pattern, GreetingForm.pattern, F.text)
    router.message.register(got_delay, GreetingForm.delay, F.text)
    router.message.register(got_text, GreetingForm.text, F.text)
    router.message.register(not_text)
    return router
