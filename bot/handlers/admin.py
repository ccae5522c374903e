"""/admin: running the team (who works in the bot, who is an admin), statistics, and the queue.

Every admin handler checks IsAdmin itself, and the same buttons and /admin get an explicit refusal for
everybody else: an old admin menu kept after a demotion, or forged callback data, must not do anything.
"""

from __future__ import annotations

import asyncio
import logging
from html import escape

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, StateFilter, or_f
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import (
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    MessageOriginHiddenUser,
    MessageOriginUser,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    AdminAction,
    AdminCallback,
    AssignTo,
    ChatAction,
    ChatCallback,
    GreetingAction,
    GreetingCallback,
    MenuAction,
    MenuCallback,
    StatsCallback,
    TeamAction,
    TeamCallback,
)
from bot.commands import ADMIN_COMMANDS, admin_commands
from bot.i18n import N_, ManagerLanguages, _, i18n, reason_of
from bot.middlewares import IsAdmin
from bot.render import client_label, duration
from bot.states import AddManager
from models import Manager
from support.contracts import TeamMember
from support.greetings import GreetingFigures
from support.localtime import local_text
from support.service import SupportService
from support.stats import (
    PERIOD_DAYS,
    Figures,
    PeriodStats,
    StatsService,
    csv_filename,
    export_csv,
    format_rating,
    render_chart,
)
from support.team import TeamChange, TeamError, TeamService, parse_telegram_id

log = logging.getLogger(__name__)

TITLE = N_("⚙️ <b>Админ-меню</b>")
NO_ACCESS = N_("⛔ Нет доступа: админ-меню только для администраторов ILPO-TAXI.")
MESSAGE_BUDGET = 3800  # under Telegram's 4096, with room for the closing line
KEYBOARD_MEMBERS = 90  # Telegram allows 100 buttons in a keyboard; the rest are in the list's text
PERIOD_NAMES = {1: N_("📅 Сегодня"), 7: N_("🗓 7 дней"), 30: N_("🗓 30 дней")}
ADD_PROMPT = N_(
    "➕ <b>Новый менеджер</b>\n\n"
    "Пришлите его Telegram ID числом или перешлите сюда любое его сообщение.\n"
    "Свой ID человек узнает, если напишет этому боту /start.\n\n"
    "/cancel — отменить."
)
HIDDEN_FORWARD = N_(
    "🙈 {name} скрывает свой аккаунт в пересланных сообщениях, поэтому Telegram не показывает его ID.\n\n"
    "Попросите его написать этому боту /start — бот покажет ему его ID — и пришлите этот номер сюда числом. "
    "/cancel — отменить."
)

# What the person is told about a change of their access (best effort: a bot cannot write first).
TOLD = {
    TeamAction.ADD: N_("✅ Вам открыт доступ к рабочему боту менеджеров ILPO-TAXI. Отправьте /start, чтобы начать."),
    TeamAction.ENABLE: N_("✅ Ваш доступ к рабочему боту менеджеров ILPO-TAXI снова открыт. /start — главное меню."),
    TeamAction.DISABLE: N_("⛔ Ваш доступ к рабочему боту менеджеров ILPO-TAXI отключён администратором."),
    TeamAction.MAKE_ADMIN: N_("👑 Вам выданы права администратора. /admin — админ-меню."),
    TeamAction.REVOKE_ADMIN: N_("Права администратора сняты. Работа с чатами остаётся как была."),
}
DONE = {
    TeamAction.DISABLE: (N_("⛔ {name}: доступ отключён."), N_("{name} уже отключён(а).")),
    TeamAction.ENABLE: (N_("✅ {name}: доступ снова открыт."), N_("{name} уже в работе.")),
    TeamAction.MAKE_ADMIN: (N_("👑 {name} теперь администратор."), N_("{name} уже администратор.")),
    TeamAction.REVOKE_ADMIN: (N_("↩️ {name} больше не администратор."), N_("{name} и так не администратор.")),
}


# --- the menu -----------------------------------------------------------------------------------------


def admin_menu() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("👥 Управление менеджерами"), callback_data=AdminCallback(action=AdminAction.MANAGERS))
    builder.button(text=_("📊 Статистика"), callback_data=StatsCallback())
    builder.button(text=_("⏳ Очередь"), callback_data=AdminCallback(action=AdminAction.QUEUE))
    builder.button(text=_("👋 Приветствия"), callback_data=GreetingCallback(action=GreetingAction.LIST))
    builder.button(text=_("📝 Шаблоны ответов"), callback_data=AdminCallback(action=AdminAction.TEMPLATES))
    builder.adjust(1)
    return builder.as_markup()


async def admin(message: Message) -> None:
    await message.answer(_(TITLE), reply_markup=admin_menu())


async def admin_from_menu(query: CallbackQuery, bot: Bot) -> None:
    await query.answer()
    await bot.send_message(query.from_user.id, _(TITLE), reply_markup=admin_menu())


async def refuse_command(message: Message) -> None:
    await message.answer(_(NO_ACCESS))


async def refuse_button(query: CallbackQuery) -> None:
    await query.answer(_(NO_ACCESS), show_alert=True)


# --- the team -----------------------------------------------------------------------------------------


def _state_icon(member: TeamMember) -> str:
    if not member.active:
        return "⛔"
    return "🟢" if member.online else "⚪️"


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def team_text(team: list[TeamMember]) -> str:
    if not team:
        return _("👥 В команде пока никого нет.\n\nНажмите «➕ Добавить менеджера» или впишите Telegram ID в "
                 "MANAGER_IDS — и пусть человек отправит боту /start.")
    lines = [_("👥 <b>Менеджеры ({count})</b>").format(count=len(team)), ""]
    for shown, member in enumerate(team):
        role = _(" · админ") if member.admin else ""
        state = _("отключён") if not member.active else _("активных чатов: {count}").format(count=member.active_chats)
        line = f"{_state_icon(member)} <b>{escape(member.name)}</b> (<code>{member.telegram_id}</code>){role} — {state}"
        if sum(len(part) + 1 for part in lines) + len(line) > MESSAGE_BUDGET:
            lines.append(_("…и ещё {count}").format(count=len(team) - shown))
            break
        lines.append(line)
    lines += ["", _("Нажмите на менеджера, чтобы изменить его доступ.")]
    return "\n".join(lines)


def team_keyboard(team: list[TeamMember]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for member in team[:KEYBOARD_MEMBERS]:
        load = f" · {member.active_chats}" if member.active and member.active_chats else ""
        builder.button(text=f"{_state_icon(member)} {_short(member.name)}{load}",
                       callback_data=TeamCallback(action=TeamAction.OPEN, telegram_id=member.telegram_id))
    builder.adjust(2)
    builder.row()
    builder.button(text=_("➕ Добавить менеджера"), callback_data=TeamCallback(action=TeamAction.ADD))
    return builder.as_markup()


def member_text(member: TeamMember, *, config_admin: bool) -> str:
    if not member.active:
        state = _("⛔ отключён — не получает чатов и не может работать в боте")
    else:
        state = _("🟢 на смене") if member.online else _("⚪️ не на смене")
    role = _("администратор") if member.admin else _("менеджер")
    if config_admin:
        role += " " + _("(из настроек ADMIN_IDS)")
    return "\n".join([
        f"🧑‍💼 <b>{escape(member.name)}</b>",
        f"Telegram ID: <code>{member.telegram_id}</code>",
        _("Статус: {state}").format(state=state),
        _("Роль: {role}").format(role=role),
        _("Активных чатов: {count}").format(count=member.active_chats),
    ])


def member_keyboard(member: TeamMember, *, config_admin: bool, viewer: int) -> InlineKeyboardMarkup:
    """Only the buttons that can work: the configuration's admins and the admin themselves are off limits."""
    builder = InlineKeyboardBuilder()

    def button(text: str, action: TeamAction) -> None:
        builder.button(text=text, callback_data=TeamCallback(action=action, telegram_id=member.telegram_id))

    changeable = not config_admin and member.telegram_id != viewer
    if member.active and changeable:
        button(_("⛔ Отключить"), TeamAction.DISABLE)
    elif not member.active:
        button(_("✅ Включить"), TeamAction.ENABLE)
    if member.active and not member.admin:
        button(_("👑 Сделать админом"), TeamAction.MAKE_ADMIN)
    elif member.admin and changeable:
        button(_("↩️ Снять админа"), TeamAction.REVOKE_ADMIN)
    button(_("◀️ К списку"), TeamAction.LIST)
    builder.adjust(1)
    return builder.as_markup()


async def _show(query: CallbackQuery, bot: Bot, text: str, markup: InlineKeyboardMarkup) -> None:
    """Edit the pressed message in place (the team list is one message the admin walks through)."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as error:
            if "not modified" in error.message:  # a repeated press: the message already says this
                return
            raise
    await bot.send_message(query.from_user.id, text, reply_markup=markup)


async def managers(query: CallbackQuery, bot: Bot, service: SupportService) -> None:
    team = await service.team.overview()
    await query.answer()
    await bot.send_message(query.from_user.id, team_text(team), reply_markup=team_keyboard(team))


async def team_list(query: CallbackQuery, bot: Bot, service: SupportService) -> None:
    team = await service.team.overview()
    await query.answer()
    await _show(query, bot, team_text(team), team_keyboard(team))


async def member_card(query: CallbackQuery, callback_data: TeamCallback, bot: Bot, team: TeamService) -> None:
    member = await team.member(callback_data.telegram_id)
    if member is None:
        await query.answer(_("Такого менеджера нет в команде."), show_alert=True)
        return
    await query.answer()
    config_admin = team.is_config_admin(member.telegram_id)
    await _show(query, bot, member_text(member, config_admin=config_admin),
                member_keyboard(member, config_admin=config_admin, viewer=query.from_user.id))


async def change_member(
    query: CallbackQuery, callback_data: TeamCallback, bot: Bot, team: TeamService, fsm_storage: BaseStorage,
    languages: ManagerLanguages,
) -> None:
    actor, target, action = query.from_user.id, callback_data.telegram_id, callback_data.action
    change = {
        TeamAction.DISABLE: team.disable,
        TeamAction.ENABLE: team.enable,
        TeamAction.MAKE_ADMIN: team.make_admin,
        TeamAction.REVOKE_ADMIN: team.revoke_admin,
    }[action]
    try:
        result = await change(actor, target)
    except TeamError as error:
        await query.answer(reason_of(error), show_alert=True)
        return
    member = result.member
    done, already = DONE[action]
    await query.answer(_(done if result.changed else already).format(name=member.name))
    if result.changed:
        if action == TeamAction.DISABLE:
            # A reply mode left open must not wake up if the manager is ever switched back on.
            await fsm_storage.set_state(StorageKey(bot_id=bot.id, chat_id=target, user_id=target), None)
        await _update_commands(bot, member)
        await _tell(bot, target, TOLD[action], languages)
    await _show(query, bot, member_text(member, config_admin=result.config_admin),
                member_keyboard(member, config_admin=result.config_admin, viewer=actor))


async def _tell(bot: Bot, telegram_id: int, text: str, languages: ManagerLanguages) -> bool:
    """`text` (a catalog text) to the person whose access changed, in their own language."""
    with i18n.use_locale(languages.locale(telegram_id)):
        text = _(text)
    try:
        await bot.send_message(telegram_id, text)
    except TelegramAPIError as error:
        log.info("Could not tell %s about their access: %s", telegram_id, error)
        return False
    return True


async def _update_commands(bot: Bot, member: TeamMember) -> None:
    """Show /admin in the command menu of exactly the people who may use it."""
    scope = BotCommandScopeChat(chat_id=member.telegram_id)
    try:
        if member.admin and member.active:
            await bot.set_my_commands(ADMIN_COMMANDS, scope=scope)
            await bot.set_my_commands(admin_commands("en"), scope=scope, language_code="en")
        else:
            await bot.delete_my_commands(scope=scope)
            await bot.delete_my_commands(scope=scope, language_code="en")
    except TelegramAPIError as error:
        # The person may never have opened the bot; the default commands apply to them then.
        log.info("Could not update the commands of %s: %s", member.telegram_id, error)


# --- adding a manager (a typed step: the next message is an ID or a forward) -------------------------


async def start_adding(query: CallbackQuery, bot: Bot, state: FSMContext) -> None:
    await state.set_state(AddManager.waiting)
    await query.answer()
    await bot.send_message(query.from_user.id, _(ADD_PROMPT))


async def cancel_adding(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_("↩️ Добавление менеджера отменено."))


async def leave_adding(message: Message, state: FSMContext) -> None:
    """Another command ends the step and then does what it always does."""
    await state.clear()
    raise SkipHandler


async def add_by_forward(
    message: Message, bot: Bot, team: TeamService, state: FSMContext, languages: ManagerLanguages
) -> None:
    origin = message.forward_origin
    if isinstance(origin, MessageOriginHiddenUser):
        await message.answer(_(HIDDEN_FORWARD).format(name=escape(origin.sender_user_name)))
        return
    if not isinstance(origin, MessageOriginUser):
        await message.answer(_("Это пересылка из чата или канала, а нужен человек. Перешлите сообщение, которое "
                               "он написал сам, или пришлите его ID числом. /cancel — отменить."))
        return
    person = origin.sender_user
    if person.is_bot:
        await message.answer(_("Это бот, а не человек. Перешлите сообщение менеджера. /cancel — отменить."))
        return
    await _add(message, bot, team, state, languages, person.id, name=person.full_name, username=person.username,
               via="forward")


async def add_by_id(
    message: Message, bot: Bot, team: TeamService, state: FSMContext, languages: ManagerLanguages
) -> None:
    assert message.text is not None
    telegram_id = parse_telegram_id(message.text)
    if telegram_id is None:
        await message.answer(_("Не похоже на Telegram ID: это число, например <code>123456789</code>. "
                               "Или перешлите сообщение этого человека. /cancel — отменить."))
        return
    await _add(message, bot, team, state, languages, telegram_id, via="id")


async def not_an_id(message: Message) -> None:
    await message.answer(_("Пришлите Telegram ID числом или перешлите сообщение этого человека. /cancel — отменить."))


async def _add(
    message: Message, bot: Bot, team: TeamService, state: FSMContext, languages: ManagerLanguages,
    telegram_id: int, *, name: str = "", username: str | None = None, via: str,
) -> None:
    assert message.from_user is not None
    actor = message.from_user.id
    try:
        result = await team.add_manager(actor, telegram_id, name=name, username=username, via=via)
    except TeamError as error:
        await message.answer(reason_of(error) + " " + _("Попробуйте ещё раз или /cancel."))
        return
    await state.clear()
    await message.answer(await _added_text(bot, result, languages), reply_markup=member_keyboard(
        result.member, config_admin=result.config_admin, viewer=actor))


async def _added_text(bot: Bot, result: TeamChange, languages: ManagerLanguages) -> str:
    member = result.member
    who = f"<b>{escape(member.name)}</b> (<code>{member.telegram_id}</code>)"
    if not result.changed:
        return _("ℹ️ {who} уже в команде.").format(who=who)
    if await _tell(bot, member.telegram_id, TOLD[TeamAction.ADD], languages):
        return _("✅ {who} добавлен(а) в команду. Я написал ему: осталось отправить боту /start.").format(who=who)
    return _("✅ {who} добавлен(а) в команду.\nБот не может написать человеку первым — передайте ему, чтобы "
             "открыл бота и отправил /start.").format(who=who)


# --- statistics ---------------------------------------------------------------------------------------


def periods_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for days in PERIOD_DAYS:
        builder.button(text=_(PERIOD_NAMES[days]), callback_data=StatsCallback(days=days))
    builder.adjust(len(PERIOD_DAYS))
    return builder.as_markup()


def _ratings(f: Figures) -> str:
    if not f.rating_count:
        return _("нет")
    return _("{rating} из 5 ({count})").format(rating=format_rating(f.rating_average, i18n.current_locale),
                                               count=f.rating_count)


def stats_text(stats: PeriodStats) -> str:
    overall = stats.overall
    lines = [_("📊 <b>Статистика: {title}</b>").format(title=stats.title_in(i18n.current_locale)), ""]
    if not overall.chats:
        lines.append(_("За этот период обращений к менеджерам не было."))
        return "\n".join(lines)
    lines += [
        _("<b>Вся команда</b>"),
        _("Обращений: {chats} · принято: {taken} · без менеджера: {untaken}").format(
            chats=overall.chats, taken=overall.taken, untaken=overall.chats - overall.taken),
        _("Первый ответ (медиана): {duration}").format(duration=duration(overall.median_first_response)),
        _("До закрытия (медиана): {duration}").format(duration=duration(overall.median_time_to_close)),
        _("Закрыто по неактивности: {count}").format(count=overall.closed_idle),
        _("Оценки: {ratings}").format(ratings=_ratings(overall)),
    ]
    for shown, f in enumerate(stats.managers):
        block = [
            "",
            f"🧑‍💼 <b>{escape(f.name)}</b>",
            _("Принято: {taken} · первый ответ: {first} · до закрытия: {close}").format(
                taken=f.taken, first=duration(f.median_first_response), close=duration(f.median_time_to_close)),
            _("По неактивности: {idle} · оценки: {ratings}").format(idle=f.closed_idle, ratings=_ratings(f)),
        ]
        if sum(len(line) + 1 for line in lines + block) > MESSAGE_BUDGET:
            lines += ["", _("…и ещё менеджеров: {count} (они есть на графике и в CSV).").format(
                count=len(stats.managers) - shown)]
            break
        lines += block
    return "\n".join(lines)


def greetings_line(figures: list[GreetingFigures]) -> str:
    """Proactive greetings of the period (per rule in /admin → 👋 Приветствия)."""
    if not figures:
        return ""
    shown, opened, chats = (sum(getattr(f, name) for f in figures) for name in ("shown", "opened", "chats"))
    return "\n\n" + _("👋 <b>Приветствия</b>: показано {shown} · открыли чат {opened} · начали диалог {chats}").format(
        shown=shown, opened=opened, chats=chats)


async def stats_periods(query: CallbackQuery, bot: Bot) -> None:
    await query.answer()
    await bot.send_message(query.from_user.id, _("📊 <b>Статистика</b>\nЗа какой период?"),
                           reply_markup=periods_keyboard())


async def show_stats(
    query: CallbackQuery, callback_data: StatsCallback, bot: Bot, stats: StatsService, service: SupportService
) -> None:
    if callback_data.days not in PERIOD_DAYS:
        await stats_periods(query, bot)
        return
    await query.answer(_("📊 Считаю…"))
    period = await stats.period(callback_data.days)
    chat_id = query.from_user.id
    greetings = greetings_line(list((await service.greetings.figures(since=period.start)).values()))
    await bot.send_message(chat_id, stats_text(period) + greetings, reply_markup=periods_keyboard())
    if not period.chats:
        return
    # Drawing and writing the file are blocking work: in a thread, the bot keeps answering meanwhile.
    chart, table = await asyncio.gather(
        asyncio.to_thread(render_chart, period, i18n.current_locale),
        asyncio.to_thread(export_csv, period.chats, period.zone),
    )
    await bot.send_photo(chat_id, BufferedInputFile(chart, filename="stats.png"),
                         caption=f"📈 {escape(period.title_in(i18n.current_locale))}")
    await bot.send_document(chat_id, BufferedInputFile(table, filename=csv_filename(period)),
                            caption=_("📄 Чаты за период ({count}), время {zone}").format(
                                count=len(period.chats), zone=period.zone_label_in(i18n.current_locale)))


# --- the queue ----------------------------------------------------------------------------------------


async def queue(query: CallbackQuery, service: SupportService) -> None:
    waiting = await service.queries.waiting_chats()
    await query.answer()
    if query.message is None:
        return
    if not waiting:
        await query.message.answer(_("⏳ Очередь пуста."))
        return
    builder = InlineKeyboardBuilder()
    lines = [_("⏳ <b>Ожидают менеджера ({count})</b>").format(count=len(waiting))]
    for card in waiting:
        since = local_text(card.created_at, service.policy.zone, "%H:%M", i18n.current_locale)
        lines.append(_("• #{chat_id} {client} — с {since}").format(chat_id=card.chat_id, client=client_label(card),
                                                                    since=since))
        builder.button(text=_("✅ Принять #{chat_id}").format(chat_id=card.chat_id),
                       callback_data=ChatCallback(action=ChatAction.ACCEPT, chat_id=card.chat_id))
        builder.button(text=_("👤 Назначить"), callback_data=AssignTo(chat_id=card.chat_id))
        builder.button(text="📋", callback_data=ChatCallback(action=ChatAction.DETAILS, chat_id=card.chat_id))
    builder.adjust(3)
    await query.message.answer("\n".join(lines), reply_markup=builder.as_markup())


async def choose_assignee(query: CallbackQuery, callback_data: AssignTo, service: SupportService) -> None:
    team = [member for member in await service.team.overview() if member.active]
    if not team:
        await query.answer(_("Менеджеров пока нет."), show_alert=True)
        return
    await query.answer()
    builder = InlineKeyboardBuilder()
    for member in team:  # online first: team_overview sorts them so
        status = "🟢" if member.online else "⚪️"
        builder.button(text=f"{status} " + _("{name} — чатов: {count}").format(name=member.name,
                                                                              count=member.active_chats),
                       callback_data=AssignTo(chat_id=callback_data.chat_id, telegram_id=member.telegram_id))
    builder.adjust(1)
    if query.message is not None:
        await query.message.answer(_("👤 Кому назначить чат #{chat_id}?").format(chat_id=callback_data.chat_id),
                                   reply_markup=builder.as_markup())


async def assign_chat(
    query: CallbackQuery, callback_data: AssignTo, service: SupportService, manager: Manager | None
) -> None:
    assert query.from_user is not None
    admin_name = manager.display_name if manager else query.from_user.full_name
    card = await service.lifecycle.assign(callback_data.chat_id, callback_data.telegram_id, by=admin_name)
    await query.answer(_("✅ Чат #{chat_id} назначен: {manager}").format(chat_id=card.chat_id,
                                                                        manager=card.manager_name))


# --- routers ------------------------------------------------------------------------------------------


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="admin")
    admin_only = IsAdmin()
    router.message.register(admin, Command("admin"), admin_only)
    router.callback_query.register(admin_from_menu, MenuCallback.filter(F.action == MenuAction.ADMIN), admin_only)
    router.callback_query.register(managers, AdminCallback.filter(F.action == AdminAction.MANAGERS), admin_only)
    router.callback_query.register(queue, AdminCallback.filter(F.action == AdminAction.QUEUE), admin_only)
    router.callback_query.register(choose_assignee, AssignTo.filter(F.telegram_id == 0), admin_only)
    router.callback_query.register(assign_chat, AssignTo.filter(), admin_only)
    router.callback_query.register(team_list, TeamCallback.filter(F.action == TeamAction.LIST), admin_only)
    router.callback_query.register(member_card, TeamCallback.filter(F.action == TeamAction.OPEN), admin_only)
    router.callback_query.register(start_adding, TeamCallback.filter(F.action == TeamAction.ADD), admin_only)
    router.callback_query.register(change_member, TeamCallback.filter(F.action.in_(set(DONE))), admin_only)
    router.callback_query.register(show_stats, StatsCallback.filter(F.days != 0), admin_only)
    router.callback_query.register(stats_periods, StatsCallback.filter(), admin_only)
    # Everybody else who reaches for the admin menu is told no, and nothing else happens.
    router.message.register(refuse_command, Command("admin"))
    router.callback_query.register(refuse_button, or_f(
        AdminCallback.filter(), TeamCallback.filter(), StatsCallback.filter(), AssignTo.filter(),
        MenuCallback.filter(F.action == MenuAction.ADMIN),
    ))
    return router


def build_steps_router() -> Router:
    """The admin's typed step; the dispatcher puts it before the others so /cancel and the ID reach it."""
    router = Router(name="admin-steps")
    router.message.filter(StateFilter(AddManager.waiting), IsAdmin())
    router.message.register(cancel_adding, Command("cancel"))
    router.message.register(leave_adding, F.text.startswith("/"))
    router.message.register(add_by_forward, F.forward_origin)
    router.message.register(add_by_id, F.text)
    router.message.register(not_an_id)
    return router
