"""Working a chat: accept, details, reply mode, reply-by-quote, close, and the /chats list."""

from __future__ import annotations

import asyncio
import contextlib
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import ChatAction, ChatCallback, CloseChat, HistoryPage, InviteTo, TransferTo
from bot.handlers.errors import refusal
from bot.i18n import N_, _
from bot.middlewares import IsManager
from bot.render import (
    assigned_keyboard,
    chat_button,
    client_label,
    close_confirmation,
    colleague_keyboard,
    details_pages,
    history_keyboard,
)
from bot.states import ReplyMode, TransferNote
from models import ChatStatus, Manager
from support.attachments import AttachmentRejected
from support.contracts import ChatCard, ChatClosed, NotAllowed, SupportError
from support.service import SupportService


async def send_chat_list(chat_id: int, bot: Bot | None, service: SupportService, manager: Manager) -> None:
    assert bot is not None
    active = await service.queries.active_chats(manager)
    waiting = await service.queries.waiting_chats()
    if not active and not waiting:
        await bot.send_message(chat_id, _("📭 Активных чатов нет.") + (
            "" if manager.is_online else " " + _("Начните смену командой /online, чтобы получать новые.")))
        return
    rows: list[list[InlineKeyboardButton]] = []
    lines = []
    if active:
        lines.append(_("💬 <b>Ваши активные чаты ({count}):</b>").format(count=len(active)))
        for card in active:
            lines.append(_("• #{chat_id} {client} — сообщений: {count}").format(
                chat_id=card.chat_id, client=client_label(card), count=card.message_count))
            row = [chat_button(_("💬 #{chat_id} Ответить").format(chat_id=card.chat_id), ChatAction.REPLY,
                               card.chat_id),
                   chat_button("📋", ChatAction.DETAILS, card.chat_id),
                   chat_button("🔚", ChatAction.CLOSE, card.chat_id)]
            if await service.topics.thread_of(card.chat_id, manager) is not None:
                # A private chat's topic has no t.me link: this button posts into the topic, which brings it up.
                row[0] = chat_button(_("🗂 #{chat_id} Тема").format(chat_id=card.chat_id), ChatAction.TOPIC,
                                     card.chat_id)
            rows.append(row)
    if waiting:
        lines.append("\n" + _("⏳ <b>Ожидают менеджера ({count}):</b>").format(count=len(waiting)))
        for card in waiting:
            lines.append(f"• #{card.chat_id} {client_label(card)}")
            rows.append([chat_button(_("✅ Принять #{chat_id}").format(chat_id=card.chat_id), ChatAction.ACCEPT,
                                     card.chat_id),
                         chat_button("📋", ChatAction.DETAILS, card.chat_id)])
    await bot.send_message(chat_id, "\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def chats(message: Message, bot: Bot, service: SupportService, manager: Manager) -> None:
    await send_chat_list(message.chat.id, bot, service, manager)


async def accept(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager,
    state: FSMContext,
) -> None:
    card = await service.lifecycle.accept(callback_data.chat_id, manager)
    await query.answer(_("✅ Чат #{chat_id} ваш.").format(chat_id=card.chat_id))
    # The accepted chat is the one the manager is most likely to answer next.
    await enter_reply_mode(query.bot, state, manager, card, markup=assigned_keyboard(card))


async def accept_from_details(
    query: CallbackQuery, callback_data: HistoryPage, service: SupportService, manager: Manager, state: FSMContext,
) -> None:
    """«✅ Принять чат» under a details page: whoever won, the page's accept button is stale afterwards."""
    try:
        card = await service.lifecycle.accept(callback_data.chat_id, manager)
    finally:  # won or refused (the error handler shows who took it), the page's buttons are refreshed
        if isinstance(query.message, Message):
            await refresh_details_buttons(query.message, callback_data.chat_id, callback_data.page, service, manager)
    await query.answer(_("✅ Чат #{chat_id} ваш.").format(chat_id=card.chat_id))
    await enter_reply_mode(query.bot, state, manager, card, markup=assigned_keyboard(card))


async def refresh_details_buttons(
    message: Message, chat_id: int, page: int, service: SupportService, manager: Manager
) -> None:
    """The details message's buttons as they are now (no accept once the chat is taken; reply/close for its
    manager); the text stays as the manager saw it."""
    try:
        card = await service.queries.chat_card(chat_id, manager)
        total = len(details_pages(card, await service.queries.chat_history(chat_id, manager), service.policy.zone))
    except SupportError:
        card, total = None, 1
    markup = history_keyboard(card, min(page, total - 1), total, can_act=card.manager_telegram_id == manager.telegram_id
                              ) if card is not None else None
    # Unchanged buttons ("message is not modified") need no edit.
    with contextlib.suppress(TelegramBadRequest):
        await message.edit_reply_markup(reply_markup=markup)


async def reply_mode(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager,
    state: FSMContext,
) -> None:
    card = await service.queries.chat_card(callback_data.chat_id, manager)
    if not card.works_on(manager.telegram_id) or card.status != ChatStatus.ASSIGNED:
        await query.answer(_("Сначала примите чат.") if card.status == ChatStatus.WAITING else refusal(ChatClosed(0)),
                           show_alert=True)
        return
    await query.answer(_("💬 Отвечаете в чат #{chat_id}").format(chat_id=card.chat_id))
    await enter_reply_mode(query.bot, state, manager, card)


async def enter_reply_mode(
    bot: Bot | None, state: FSMContext, manager: Manager, card: ChatCard, *, markup: InlineKeyboardMarkup | None = None
) -> None:
    assert bot is not None
    await state.set_state(ReplyMode.active)
    await state.update_data(chat_id=card.chat_id)
    await bot.send_message(
        manager.telegram_id,
        _("💬 Режим ответа: ваши сообщения уходят клиенту <b>{client}</b> (чат #{chat_id}). /cancel — выйти.").format(
            client=client_label(card), chat_id=card.chat_id),
        reply_markup=markup,
    )


async def details(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager
) -> None:
    await show_history(query, callback_data.chat_id, 0, service, manager, edit=False)


async def history_page(
    query: CallbackQuery, callback_data: HistoryPage, service: SupportService, manager: Manager
) -> None:
    await show_history(query, callback_data.chat_id, callback_data.page, service, manager, edit=True)


async def show_history(
    query: CallbackQuery, chat_id: int, page: int, service: SupportService, manager: Manager, *, edit: bool
) -> None:
    card = await service.queries.chat_card(chat_id, manager)
    history = await service.queries.chat_history(chat_id, manager)
    pages = details_pages(card, history, service.policy.zone)
    page = max(0, min(page, len(pages) - 1))
    markup = history_keyboard(card, page, len(pages), can_act=card.manager_telegram_id == manager.telegram_id)
    await query.answer()
    shown: Message | bool
    if edit and isinstance(query.message, Message):
        shown = await query.message.edit_text(pages[page], reply_markup=markup)
    else:
        assert query.bot is not None
        shown = await query.bot.send_message(manager.telegram_id, pages[page], reply_markup=markup)
    # A page offering «✅ Принять чат» is remembered: whoever takes the chat, the button goes from here too.
    # Taken while the page was drawn: its buttons are stale at once.
    if (card.status == ChatStatus.WAITING and isinstance(shown, Message)
            and not await service.lifecycle.show_accept_button(chat_id, shown.chat.id, shown.message_id, page=page,
                                                               pages=len(pages))):
        await refresh_details_buttons(shown, chat_id, page, service, manager)


async def call_client(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager
) -> None:
    card = await service.queries.chat_card(callback_data.chat_id, manager)
    if not card.client_phone:
        await query.answer(_("Клиент не оставил телефон."), show_alert=True)
        return
    await query.answer()
    assert query.bot is not None
    # A contact card: one tap calls the client from the manager's phone.
    await query.bot.send_contact(
        manager.telegram_id, phone_number=card.client_phone,
        first_name=card.client_name or _("Клиент #{chat_id}").format(chat_id=card.chat_id),
    )


async def ask_close(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager
) -> None:
    """«🔚 Завершить» only asks: ending a conversation by a mis-tap cannot be undone."""
    card = await service.queries.chat_card(callback_data.chat_id, manager)
    if card.status == ChatStatus.CLOSED:
        await query.answer(refusal(ChatClosed(card.chat_id)), show_alert=True)
        return
    if card.manager_telegram_id != manager.telegram_id or card.status != ChatStatus.ASSIGNED:
        await query.answer(refusal(NotAllowed(card.chat_id)), show_alert=True)
        return
    await query.answer()
    text, markup = close_confirmation(card)
    assert query.bot is not None
    # Asked where the button was pressed: in the chat's topic when the card lives in one.
    thread = getattr(query.message, "message_thread_id", None)
    await query.bot.send_message(manager.telegram_id, text, reply_markup=markup, message_thread_id=thread)


async def close(
    query: CallbackQuery, callback_data: CloseChat, service: SupportService, manager: Manager,
    state: FSMContext,
) -> None:
    try:
        card = await service.lifecycle.close(manager, callback_data.chat_id)
    except SupportError:
        # The question is answered either way: its buttons go, the error handler shows the refusal.
        if query.message is not None:
            with contextlib.suppress(TelegramBadRequest):
                await query.message.edit_reply_markup(reply_markup=None)  # type: ignore[union-attr]
        raise
    data = await state.get_data()
    if data.get("chat_id") == card.chat_id:
        await state.clear()
    await query.answer(_("🔚 Чат #{chat_id} завершён.").format(chat_id=card.chat_id))
    done = _("🔚 Чат #{chat_id} · {client} — завершён. Клиент уведомлён.").format(chat_id=card.chat_id,
                                                                               client=client_label(card))
    if query.message is not None:
        await query.message.edit_text(done, reply_markup=None)  # type: ignore[union-attr]


async def keep_open(query: CallbackQuery, callback_data: CloseChat) -> None:
    await query.answer(_("Чат остаётся открытым."))
    if query.message is not None:
        await query.message.edit_text(  # type: ignore[union-attr]
            _("↩️ Чат #{chat_id} не завершён: разговор продолжается.").format(chat_id=callback_data.chat_id),
            reply_markup=None)


async def reply_by_quote(message: Message, service: SupportService, manager: Manager) -> None:
    """A Telegram reply to a client's forwarded message answers that client, no mode needed."""
    assert message.reply_to_message is not None and message.text is not None
    chat_id = await service.queries.chat_for_telegram_message(manager, message.reply_to_message.message_id)
    if chat_id is None:
        await message.answer(_("Не понял, какому клиенту ответить: ответьте на сообщение клиента или "
                               "нажмите «💬 Ответить» у нужного чата."))
        return
    await deliver_reply(message, service, manager, chat_id)


async def reply_in_mode(message: Message, service: SupportService, manager: Manager, state: FSMContext) -> None:
    chat_id = (await state.get_data()).get("chat_id")
    if chat_id is None:
        await state.clear()
        return
    try:
        await deliver_reply(message, service, manager, int(chat_id))
    except SupportError:
        await state.clear()  # the chat is gone (closed, handed over): leave its reply mode; the refusal is said
        raise


async def unsupported_in_mode(message: Message) -> None:
    await message.answer(_("В веб-чат можно отправлять текст, фото и документы (PDF). Это сообщение не ушло клиенту."))


FILE_REFUSALS = {
    "file_too_large": N_("Файл слишком большой для веб-чата."),
    "unsupported_file": N_("Клиенту можно отправить фото (JPEG, PNG, WebP, HEIC) или PDF."),
}
FILE_REFUSED = N_("Этот файл нельзя отправить в веб-чат.")


async def file_to_client(
    message: Message, bot: Bot, service: SupportService, manager: Manager, state: FSMContext
) -> None:
    """A photo or document: to the client of the quoted message, or of the reply mode."""
    chat_id = None
    quoted = message.reply_to_message
    if quoted is not None and quoted.from_user is not None and quoted.from_user.is_bot:
        chat_id = await service.queries.chat_for_telegram_message(manager, quoted.message_id)
    if chat_id is None and await state.get_state() == ReplyMode.active.state:
        chat_id = (await state.get_data()).get("chat_id")
    if chat_id is None:
        await message.answer(_("Чтобы отправить файл клиенту, нажмите «💬 Ответить» у его чата "
                               "или ответьте (reply) файлом на его сообщение."))
        return
    if await relay_manager_file(message, bot, service, manager, int(chat_id)):
        await message.reply(_("✅ Файл отправлен клиенту (чат #{chat_id}).").format(chat_id=chat_id))


async def relay_manager_file(message: Message, bot: Bot, service: SupportService, manager: Manager,
                             chat_id: int) -> bool:
    """Sends the manager's photo or document to the chat's visitor; a refusal is explained to the manager and
    gives False. Shared by the reply mode and topic mode, which differ only in how they find the chat."""
    if message.document is not None:
        file_id, size, filename = message.document.file_id, message.document.file_size, message.document.file_name
    else:
        assert message.photo
        best = message.photo[-1]  # the largest size Telegram made
        file_id, size, filename = best.file_id, best.file_size, "photo.jpg"
    # Refused before downloading: a file over the widget's cap is not worth fetching from Telegram.
    if service.attachments is not None and size and size > service.attachments.max_bytes:
        await message.answer(_(FILE_REFUSALS["file_too_large"]))
        return False
    buffer = await bot.download(file_id)
    assert buffer is not None
    try:
        await service.relay.manager_file(manager, chat_id, buffer.read(), filename=filename,
                                         caption=message.caption, telegram_message_id=message.message_id)
    except AttachmentRejected as exc:
        await message.answer(_(FILE_REFUSALS.get(exc.code, FILE_REFUSED)))
        return False
    return True


async def deliver_reply(message: Message, service: SupportService, manager: Manager, chat_id: int) -> None:
    assert message.text is not None
    await service.relay.manager_reply(manager, chat_id, message.text, telegram_message_id=message.message_id)
    # The commit woke the visitor's socket: its frame goes out before this confirmation is built and sent.
    await asyncio.sleep(0)
    await message.reply(_("✅ Отправлено клиенту (чат #{chat_id}).").format(chat_id=chat_id))


async def choose_transfer_target(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager
) -> None:
    card = await service.queries.chat_card(callback_data.chat_id, manager)
    if card.manager_telegram_id != manager.telegram_id or card.status != ChatStatus.ASSIGNED:
        await query.answer(refusal(NotAllowed(card.chat_id)), show_alert=True)
        return
    colleagues = await service.team.transfer_targets(manager)
    if not colleagues:
        await query.answer(_("Сейчас нет других менеджеров онлайн — передать некому."), show_alert=True)
        return
    await query.answer()
    rows = [[InlineKeyboardButton(
        text=_("{name} — чатов: {count}").format(name=member.name, count=member.active_chats),
        callback_data=TransferTo(chat_id=card.chat_id, telegram_id=member.telegram_id).pack(),
    )] for member in colleagues]
    assert query.bot is not None
    await query.bot.send_message(
        manager.telegram_id,
        _("↪️ Кому передать чат #{chat_id} ({client})? Рядом с именем — текущая загрузка.").format(
            chat_id=card.chat_id, client=client_label(card)),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


async def transfer_target_chosen(
    query: CallbackQuery, callback_data: TransferTo, service: SupportService, manager: Manager, state: FSMContext
) -> None:
    if callback_data.now:
        await query.answer()
        await finish_transfer(query.bot, service, manager, state, callback_data.chat_id, callback_data.telegram_id,
                              note=None)
        return
    await state.set_state(TransferNote.waiting)
    await state.update_data(transfer_chat_id=callback_data.chat_id, transfer_to=callback_data.telegram_id)
    await query.answer()
    assert query.bot is not None
    await query.bot.send_message(
        manager.telegram_id,
        _("📝 Напишите заметку для коллеги (что уже обсудили, что осталось) — или передайте без неё."),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("➡️ Передать без заметки"),
            callback_data=TransferTo(chat_id=callback_data.chat_id, telegram_id=callback_data.telegram_id,
                                     now=True).pack())]]),
    )


async def transfer_note(message: Message, service: SupportService, manager: Manager, state: FSMContext) -> None:
    data = await state.get_data()
    await finish_transfer(message.bot, service, manager, state, int(data["transfer_chat_id"]),
                          int(data["transfer_to"]), note=message.text)


async def finish_transfer(
    bot: Bot | None, service: SupportService, manager: Manager, state: FSMContext, chat_id: int, to: int,
    *, note: str | None,
) -> None:
    assert bot is not None
    await state.clear()
    try:
        card = await service.lifecycle.transfer(manager, chat_id, to, note)
    except SupportError as error:
        await bot.send_message(manager.telegram_id, escape(refusal(error)) + " " + _("Чат остался у вас."))
        return
    await bot.send_message(manager.telegram_id, _("✅ Чат #{chat_id} передан: {manager}. Клиент уведомлён.").format(
        chat_id=card.chat_id, manager=escape(card.manager_name or "?")))


async def choose_colleague_to_invite(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager
) -> None:
    card = await service.queries.chat_card(callback_data.chat_id, manager)
    if card.manager_telegram_id != manager.telegram_id or card.status != ChatStatus.ASSIGNED:
        await query.answer(refusal(NotAllowed(card.chat_id)), show_alert=True)
        return
    colleagues = [member for member in await service.team.transfer_targets(manager)
                  if member.telegram_id not in card.colleague_telegram_ids]
    if not colleagues:
        await query.answer(_("Сейчас некого пригласить: других менеджеров онлайн нет."), show_alert=True)
        return
    await query.answer()
    rows = [[InlineKeyboardButton(text=_("{name} — чатов: {count}").format(name=member.name,
                                                                         count=member.active_chats),
                                  callback_data=InviteTo(
        chat_id=card.chat_id, telegram_id=member.telegram_id).pack())] for member in colleagues]
    assert query.bot is not None
    await query.bot.send_message(manager.telegram_id, _("👥 Кого пригласить в чат #{chat_id}?").format(
                                     chat_id=card.chat_id),
                                 reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def invite_colleague(
    query: CallbackQuery, callback_data: InviteTo, service: SupportService, manager: Manager
) -> None:
    await service.colleagues.invite(manager, callback_data.chat_id, callback_data.telegram_id)
    await query.answer(_("👥 Приглашение отправлено."))


async def join_chat(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager,
    state: FSMContext,
) -> None:
    card = await service.colleagues.join(callback_data.chat_id, manager)
    await query.answer(_("👥 Вы в чате #{chat_id}.").format(chat_id=card.chat_id))
    await enter_reply_mode(query.bot, state, manager, card, markup=colleague_keyboard(card))


async def leave_chat(
    query: CallbackQuery, callback_data: ChatCallback, service: SupportService, manager: Manager,
    state: FSMContext,
) -> None:
    card = await service.colleagues.leave(callback_data.chat_id, manager)
    if (await state.get_data()).get("chat_id") == card.chat_id:
        await state.clear()
    await query.answer(_("🚪 Вы вышли из чата #{chat_id}: его сообщения больше не приходят вам.").format(
        chat_id=card.chat_id), show_alert=True)


def build_router() -> Router:
    """A fresh router each time: aiogram attaches a router to one dispatcher only."""
    router = Router(name="chats")
    router.message.filter(IsManager())
    router.callback_query.filter(IsManager())
    router.message.register(chats, Command("chats"))
    router.callback_query.register(accept, ChatCallback.filter(F.action == ChatAction.ACCEPT))
    router.callback_query.register(reply_mode, ChatCallback.filter(F.action == ChatAction.REPLY))
    router.callback_query.register(details, ChatCallback.filter(F.action == ChatAction.DETAILS))
    router.callback_query.register(accept_from_details, HistoryPage.filter(F.accept))
    router.callback_query.register(history_page, HistoryPage.filter())
    router.callback_query.register(call_client, ChatCallback.filter(F.action == ChatAction.CALL))
    router.callback_query.register(ask_close, ChatCallback.filter(F.action == ChatAction.CLOSE))
    router.callback_query.register(close, CloseChat.filter(F.confirm))
    router.callback_query.register(keep_open, CloseChat.filter(~F.confirm))
    router.callback_query.register(choose_transfer_target, ChatCallback.filter(F.action == ChatAction.TRANSFER))
    router.callback_query.register(transfer_target_chosen, TransferTo.filter())
    router.callback_query.register(choose_colleague_to_invite, ChatCallback.filter(F.action == ChatAction.INVITE))
    router.callback_query.register(invite_colleague, InviteTo.filter())
    router.callback_query.register(join_chat, ChatCallback.filter(F.action == ChatAction.JOIN))
    router.callback_query.register(leave_chat, ChatCallback.filter(F.action == ChatAction.LEAVE))
    router.message.register(transfer_note, TransferNote.waiting, F.text, ~F.text.startswith("/"))
    router.message.register(reply_by_quote, F.reply_to_message.from_user.is_bot, F.text, ~F.text.startswith("/"))
    router.message.register(reply_in_mode, ReplyMode.active, F.text, ~F.text.startswith("/"))
    router.message.register(file_to_client, F.document | F.photo)
    router.message.register(unsupported_in_mode, ReplyMode.active, ~F.text)
    return router
