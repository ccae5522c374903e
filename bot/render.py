"""How chats look in Telegram: HTML texts (client text always escaped) and inline keyboards."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from html import escape
from urllib.parse import urlsplit

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import ChatAction, ChatCallback, CloseChat, HistoryPage, MenuAction, MenuCallback
from bot.i18n import N_, _, i18n, ngettext
from bot.telegram_html import cut_html, markdown_to_telegram_html, telegram_quote
from models import AcceptButton, Attachment, ChatStatus, Outbox
from support.attachments import IMAGE_TYPES
from support.context import MOBILE, YANDEX_BROWSER
from support.contracts import ChatCard, DailySummary, Exchange, HistoryEntry, VisitorContext
from support.localtime import as_local, default_zone, local_text, zone_label
from support.outbox import Coalesce, OutgoingCall, Priority
from support.stats import format_duration

TELEGRAM_TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
AI_QUOTE_LIMIT = 300
QUESTION_QUOTE_LIMIT = 200
HISTORY_PAGE_CHARS = 3500
NOT_GIVEN = N_("не указано")

SENDER_LABELS = {"user": N_("👤 Клиент"), "ai": N_("🤖 ИИ"), "manager": "🧑‍💼", "system": N_("ℹ️ Система")}


def client_label(card: ChatCard) -> str:
    return escape(card.client_name) if card.client_name else _("Клиент #{chat_id}").format(chat_id=card.chat_id)


def _given(value: str | None) -> str:
    """The value escaped, or «не указано» in the reader's language."""
    return escape(value) if value else _(NOT_GIVEN)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _verified_mark(card: ChatCard) -> str:
    context = card.context
    if context is None or not context.external_id:
        return ""
    if context.verified:
        return _(" ✔️ проверен")
    return _(" (ID {external_id}, не проверен)").format(external_id=escape(_shorten(context.external_id, 40)))


def _offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _device(device: str) -> str:
    """support.context.device_of's description, its two Russian words in the reader's language."""
    for word in (YANDEX_BROWSER, MOBILE):
        device = device.replace(word, _(word))
    return escape(device)


def _host(url: str) -> str:
    return urlsplit(url).netloc or _shorten(url, 60)


def _client_clock(context: VisitorContext, fmt: str) -> str | None:
    """The visitor's local time with its UTC offset, when the widget reported both."""
    if context.local_time is None or context.tz_offset is None:
        return None
    return f"{context.local_time:{fmt}} ({_offset(context.tz_offset)})"


def context_lines(card: ChatCard) -> list[str]:
    """The visitor's context in a few short lines for the card (details_pages shows all of it)."""
    context = card.context
    if context is None:
        return []
    lines = []
    source = [escape(_host(context.referrer))] if context.referrer else []
    source += [escape(_shorten(value, 40)) for key, value in context.utm if key in ("utm_source", "utm_campaign")]
    if source:
        lines.append(_("🧭 Откуда: {sources}").format(sources=" · ".join(source)))
    if len(context.pages) > 1:
        lines.append(_("📄 Страниц за визит: {count}").format(count=len(context.pages)))
    if context.device:
        lines.append(f"💻 {_device(context.device)}")
    if clock := _client_clock(context, "%H:%M"):
        lines.append(_("🕰 У клиента сейчас {clock}").format(clock=clock))
    if context.returning:
        chats = ", ".join(f"#{past.chat_id}" for past in context.earlier_chats)
        lines.append(_("🔁 Возвращается: прошлые чаты {chats}").format(chats=chats))
    return lines


def context_details(card: ChatCard) -> list[str]:
    """All of the visitor's context, for «📋 Подробности»."""
    context = card.context
    if context is None:
        return []
    lines = []
    if context.external_id:
        state = _("✔️ проверен") if context.verified else _("не проверен")
        lines.append(_("🪪 ID на сайте: {external_id} ({state})").format(external_id=escape(context.external_id),
                                                                     state=state))
    if context.email:
        lines.append(f"✉️ Email: {escape(context.email)}")
    if context.page_title:
        lines.append(_("🏷 Заголовок страницы: {title}").format(title=escape(_shorten(context.page_title, 200))))
    if context.referrer:
        lines.append(_("🧭 Пришёл с: {referrer}").format(referrer=escape(_shorten(context.referrer, 300))))
    for key, value in context.utm:
        lines.append(f"🏷 {escape(key)}: {escape(_shorten(value, 100))}")
    if context.device:
        lines.append(_("💻 Устройство: {device}").format(device=_device(context.device)))
    if clock := _client_clock(context, "%d.%m %H:%M"):
        lines.append(_("🕰 Время клиента: {clock}").format(clock=clock))
    if context.pages:
        lines.append(_("📄 <b>Страницы за визит ({count}):</b>").format(count=len(context.pages)))
        lines += [f"{n}. {escape(_shorten(title, 60)) + ' — ' if title else ''}{escape(_shorten(url, 120))}"
                  for n, (url, title) in enumerate(context.pages, 1)]
    if context.returning:
        lines.append(_("🔁 <b>Прошлые чаты:</b>"))
        lines += [_("• #{chat_id} от {date} — {status}").format(
                      chat_id=past.chat_id, date=f"{past.created_at:%d.%m.%Y}", status=status_label(past.status))
                  + (f": {escape(_shorten(past.summary, 100))}" if past.summary else "")
                  for past in context.earlier_chats]
    return lines


def card_text(card: ChatCard, zone: dt.tzinfo) -> str:
    lines = [
        _("🆕 <b>Чат поддержки #{chat_id}</b>").format(chat_id=card.chat_id),
        "",
        _("👤 Клиент: {client}").format(client=_given(card.client_name)) + _verified_mark(card),
        _("📞 Телефон: {phone}").format(phone=_given(card.client_phone)),
        _("🌐 Страница: {page}").format(page=_given(card.page_url)),
        *context_lines(card),
        _("🕐 Создан: {created}").format(created=local_text(card.created_at, zone, locale=i18n.current_locale)),
    ]
    if card.summary:
        lines[1:1] = ["", _("📝 <b>Суть:</b> {summary}").format(summary=escape(card.summary))]
    if card.recent_exchanges:
        lines += ["", _("🗂 <b>Последние сообщения ({count}):</b>").format(count=len(card.recent_exchanges))]
        lines += [exchange_text(exchange) for exchange in card.recent_exchanges]
    else:
        lines += ["", _("🤖 Клиент ещё не общался с ИИ.")]
    return "\n".join(lines)


def exchange_text(exchange: Exchange) -> str:
    """A visitor's question and the AI's answer, each heading on its own line above its text."""
    question = escape(_shorten(exchange.question, QUESTION_QUOTE_LIMIT)) if exchange.question else "<i>—</i>"
    answer = (telegram_quote(exchange.answer, AI_QUOTE_LIMIT) if exchange.answer
              else _("<i>ИИ не ответил: клиент попросил менеджера.</i>"))
    return "\n" + _("👤 <b>Клиент:</b>\n{question}\n🤖 <b>ИИ:</b>\n{answer}").format(question=question, answer=answer)


def chat_button(text: str, action: ChatAction, chat_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ChatCallback(action=action, chat_id=chat_id).pack())


def single_button(text: str, action: ChatAction, chat_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[chat_button(text, action, chat_id)]])


def offer_keyboard(card: ChatCard) -> InlineKeyboardMarkup:
    rows = [[chat_button(_("✅ Принять чат"), ChatAction.ACCEPT, card.chat_id)],
            [chat_button(_("📋 Подробности"), ChatAction.DETAILS, card.chat_id)]]
    if card.client_phone:
        rows[1].append(chat_button(_("📞 Позвонить"), ChatAction.CALL, card.chat_id))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def answer_row(chat_id: int) -> list[InlineKeyboardButton]:
    """«💬 Ответить» + «📋 Подробности»: under everything a manager may want to answer."""
    return [chat_button(_("💬 Ответить"), ChatAction.REPLY, chat_id),
            chat_button(_("📋 Подробности"), ChatAction.DETAILS, chat_id)]


def assigned_keyboard(card: ChatCard) -> InlineKeyboardMarkup:
    rows = [[*answer_row(card.chat_id), chat_button(_("📝 Шаблоны"), ChatAction.TEMPLATES, card.chat_id)],
            [chat_button(_("↪️ Передать"), ChatAction.TRANSFER, card.chat_id),
             chat_button(_("👥 Пригласить"), ChatAction.INVITE, card.chat_id),
             chat_button(_("🔚 Завершить"), ChatAction.CLOSE, card.chat_id)]]
    if card.client_phone:
        rows[1].insert(0, chat_button(_("📞 Позвонить"), ChatAction.CALL, card.chat_id))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def colleague_keyboard(card: ChatCard) -> InlineKeyboardMarkup:
    """For a manager invited into someone else's chat: answer, look, or step out."""
    return InlineKeyboardMarkup(inline_keyboard=[[*answer_row(card.chat_id),
                                                  chat_button(_("🚪 Выйти"), ChatAction.LEAVE, card.chat_id)]])


def menu_keyboard(*, online: bool, admin: bool, copilot: bool | None = None) -> InlineKeyboardMarkup:
    """The manager's menu; `copilot` is their co-pilot switch (None: the desk has the co-pilot off)."""
    builder = InlineKeyboardBuilder()
    if online:
        builder.button(text=_("🔴 Завершить смену"), callback_data=MenuCallback(action=MenuAction.OFFLINE))
    else:
        builder.button(text=_("🟢 Начать смену"), callback_data=MenuCallback(action=MenuAction.ONLINE))
    builder.button(text=_("💬 Мои чаты"), callback_data=MenuCallback(action=MenuAction.CHATS))
    if copilot is not None:
        builder.button(text=_("💡 Подсказки ИИ: вкл") if copilot else _("💡 Подсказки ИИ: выкл"),
                       callback_data=MenuCallback(action=MenuAction.COPILOT))
    if admin:
        builder.button(text=_("⚙️ Админ-меню"), callback_data=MenuCallback(action=MenuAction.ADMIN))
    builder.adjust(2, 1)
    return builder.as_markup()


def _markup(markup: InlineKeyboardMarkup | None) -> dict | None:
    return markup.model_dump(mode="json", exclude_none=True) if markup else None


def _edit_offer(card: ChatCard, offer: Outbox, text: str, markup: InlineKeyboardMarkup | None) -> OutgoingCall:
    """Rewrite an offer already sent (its message id is filled in from `offer` when the edit is delivered)."""
    params = {"chat_id": offer.chat_id, "text": text, "parse_mode": "HTML"}
    if markup is not None:
        params["reply_markup"] = _markup(markup)
    return OutgoingCall(chat_id=offer.chat_id, method="editMessageText", params=params, purpose="offer_update",
                        support_chat_id=card.chat_id, edits_outbox_id=offer.id)


def _dump(button: InlineKeyboardButton) -> dict:
    return button.model_dump(mode="json", exclude_none=True)


def _button_name(card: ChatCard, limit: int = 24) -> str:
    return _shorten(card.client_name, limit) if card.client_name else _("Клиент #{chat_id}").format(
        chat_id=card.chat_id)


def _send(chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None, **extra: object) -> dict:
    params: dict = {"chat_id": chat_id, "text": text, "parse_mode": "HTML", **extra}
    if markup is not None:
        params["reply_markup"] = _markup(markup)
    return params


def split_for_telegram(header: str, text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """`text` escaped and cut into messages that fit Telegram's limit with their header; nothing dropped.

    Cuts fall between words where possible, and always on the raw text, so an HTML entity is never split.
    """
    budget = limit - len(header) - 32  # room for " (часть 10/12)" and the blank line
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for token in re.split(r"(\s+)", text):
        # An escaped character is at most 5 long ("&amp;"), so budget // 5 raw characters always fit.
        for part in (token[i:i + budget // 5] for i in range(0, len(token), budget // 5)) if len(
            escape(token, quote=False)
        ) > budget else (token,):
            cost = len(escape(part, quote=False))
            if size + cost > budget and current:
                pieces.append("".join(current))
                current, size = [], 0
            current.append(part)
            size += cost
    pieces.append("".join(current))
    escaped = [escape(piece, quote=False) for piece in pieces if piece] or [""]
    if len(escaped) == 1:
        return [f"{header}\n\n{escaped[0]}"]
    return [_("{header} (часть {n}/{total})").format(header=header, n=n, total=len(escaped)) + f"\n\n{piece}"
            for n, piece in enumerate(escaped, 1)]


class TelegramManagerChannel:
    """support.contracts.ManagerChannel for Telegram: what managers and admins receive."""

    def __init__(self, zone: dt.tzinfo | None = None) -> None:
        self.zone = zone or default_zone()  # the desk's [support] timezone: every time shown is in it

    def offer(self, card: ChatCard, manager_telegram_id: int) -> OutgoingCall:
        text = card_text(card, self.zone) + "\n\n" + _("⏳ <b>Клиент ждёт ответа.</b> Примите чат, чтобы ответить.")
        return OutgoingCall(
            chat_id=manager_telegram_id,
            method="sendMessage",
            params=_send(manager_telegram_id, text, offer_keyboard(card)),
            purpose="offer",
            support_chat_id=card.chat_id,
        )

    def offer_taken(self, card: ChatCard, offer: Outbox, *, winner: bool) -> OutgoingCall:
        if winner:
            text = card_text(card, self.zone) + "\n\n" + _(
                "✅ <b>Вы приняли этот чат.</b> Нажмите «💬 Ответить» или ответьте (reply) на сообщение клиента.")
            markup: InlineKeyboardMarkup | None = assigned_keyboard(card)
        else:
            text = card_text(card, self.zone) + "\n\n" + _("🔒 Чат принял(а) {manager}.").format(
                manager=escape(card.manager_name or "?"))
            markup = None
        return _edit_offer(card, offer, text, markup)

    def accept_gone(self, card: ChatCard, button: AcceptButton, *, winner: bool) -> OutgoingCall:
        """The details page keeps its text and page buttons; the accept button goes (the winner gets the chat's
        reply/close buttons instead)."""
        markup = history_keyboard(card, button.page, button.pages, can_act=winner)
        params: dict = {"chat_id": button.telegram_chat_id, "message_id": button.message_id}
        if markup is not None:  # no reply_markup at all: Telegram removes the keyboard
            params["reply_markup"] = _markup(markup)
        return OutgoingCall(chat_id=button.telegram_chat_id, method="editMessageReplyMarkup", params=params,
                            purpose="offer_update", support_chat_id=card.chat_id)

    def queued_alert(self, card: ChatCard, admin_telegram_id: int) -> OutgoingCall:
        text = card_text(card, self.zone) + "\n\n" + _(
            "⚠️ <b>Нет менеджеров онлайн</b> — чат ждёт в очереди. Менеджер, который начнёт смену "
            "(/online), получит его.")
        markup = single_button(_("✅ Принять чат"), ChatAction.ACCEPT, card.chat_id)
        return OutgoingCall(
            chat_id=admin_telegram_id,
            method="sendMessage",
            params=_send(admin_telegram_id, text, markup),
            purpose="offer",
            support_chat_id=card.chat_id,
        )

    def visitor_message(self, card: ChatCard, manager_telegram_id: int, text: str) -> list[OutgoingCall]:
        header = _("💬 <b>{client}</b> · чат #{chat_id}").format(client=client_label(card), chat_id=card.chat_id)
        pieces = split_for_telegram(header, text)
        markup = InlineKeyboardMarkup(inline_keyboard=[answer_row(card.chat_id)])
        # A message that fits whole may share one Telegram message with others queued for this manager; its
        # buttons then say whose they are.
        coalesce = Coalesce(header=header, body=pieces[0].removeprefix(f"{header}\n\n"), buttons=[
            _dump(chat_button(_("💬 Ответить · {client}").format(client=_button_name(card)), ChatAction.REPLY,
                              card.chat_id)),
            _dump(chat_button(f"📋 #{card.chat_id}", ChatAction.DETAILS, card.chat_id)),
        ]) if len(pieces) == 1 else None
        return [
            OutgoingCall(
                chat_id=manager_telegram_id,
                method="sendMessage",
                params=_send(manager_telegram_id, piece, markup if n == len(pieces) else None),
                purpose="relay",
                support_chat_id=card.chat_id,
                priority=Priority.RELAY,
                coalesce=coalesce,
            )
            for n, piece in enumerate(pieces, 1)
        ]


    def visitor_file(
        self, card: ChatCard, manager_telegram_id: int, attachment: Attachment, caption: str | None
    ) -> OutgoingCall:
        """The visitor's photo or document, sent as a file; the outbox attaches the stored bytes."""
        kind = "photo" if attachment.content_type in IMAGE_TYPES else "document"
        text = _("📎 <b>{client}</b> · чат #{chat_id}").format(client=client_label(card), chat_id=card.chat_id)
        if caption:
            text += "\n\n" + escape(_shorten(caption, CAPTION_LIMIT - len(text) - 10))
        params = {"chat_id": manager_telegram_id, kind: {"attachment_id": attachment.id}, "caption": text,
                  "parse_mode": "HTML",
                  "reply_markup": _markup(InlineKeyboardMarkup(inline_keyboard=[answer_row(card.chat_id)]))}
        method = "sendPhoto" if kind == "photo" else "sendDocument"
        return OutgoingCall(chat_id=manager_telegram_id, method=method, params=params, purpose="relay",
                            support_chat_id=card.chat_id, priority=Priority.RELAY)

    def invitation(self, card: ChatCard, colleague_telegram_id: int, from_name: str) -> OutgoingCall:
        text = card_text(card, self.zone).replace("🆕", "👥", 1) + "\n\n" + _(
            "👥 <b>{colleague} приглашает вас в этот чат.</b> Вы будете видеть сообщения клиента "
            "и сможете отвечать; завершает чат по-прежнему {colleague}.").format(colleague=escape(from_name))
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            chat_button(_("✅ Присоединиться"), ChatAction.JOIN, card.chat_id),
            chat_button(_("📋 Подробности"), ChatAction.DETAILS, card.chat_id)]])
        return self._notice(colleague_telegram_id, text, purpose="invitation", card=card, markup=markup)

    def closed_elsewhere(self, card: ChatCard, manager_telegram_id: int, by: str) -> OutgoingCall:
        text = _("🔚 Чат #{chat_id} · {client} — закрыт из внешней системы ({system}).").format(
            chat_id=card.chat_id, client=client_label(card), system=escape(by))
        return self._notice(manager_telegram_id, text, purpose="notice", card=card)

    def colleague_joined(self, card: ChatCard, manager_telegram_id: int, colleague_name: str) -> OutgoingCall:
        text = _("👥 {colleague} теперь тоже в чате #{chat_id} · {client}: сообщения клиента приходят вам обоим."
                 ).format(colleague=escape(colleague_name), chat_id=card.chat_id, client=client_label(card))
        return self._notice(manager_telegram_id, text, purpose="notice", card=card)

    def colleague_said(self, card: ChatCard, manager_telegram_id: int, colleague_name: str, text: str) -> OutgoingCall:
        header = _("🗣 <b>{colleague}</b> → {client} · чат #{chat_id}").format(
            colleague=escape(colleague_name), client=client_label(card), chat_id=card.chat_id)
        body = cut_html(markdown_to_telegram_html(text), TELEGRAM_TEXT_LIMIT - len(header) - 100)
        return self._notice(manager_telegram_id, f"{header}\n\n{body}", purpose="notice", card=card,
                            priority=Priority.RELAY)

    def _notice(self, chat_id: int, text: str, *, purpose: str, card: ChatCard | None = None,
                markup: InlineKeyboardMarkup | None = None, priority: Priority = Priority.URGENT) -> OutgoingCall:
        return OutgoingCall(chat_id=chat_id, method="sendMessage", params=_send(chat_id, text, markup),
                            purpose=purpose, support_chat_id=card.chat_id if card else None, priority=priority)

    def lead_alert(self, card: ChatCard, admin_telegram_id: int) -> OutgoingCall:
        text = card_text(card, self.zone).replace("🆕", "📇", 1) + "\n\n" + _(
            "🌙 <b>Заявка в нерабочее время.</b> Клиент ждёт звонка или ответа, когда начнётся смена.")
        markup = single_button(_("✅ Принять чат"), ChatAction.ACCEPT, card.chat_id)
        return self._notice(admin_telegram_id, text, purpose="offer", card=card, markup=markup)

    def offer_expired(self, card: ChatCard, offer: Outbox, timeout_seconds: int) -> OutgoingCall:
        minutes = max(1, round(timeout_seconds / 60))
        text = card_text(card, self.zone) + "\n\n" + ngettext(
            "⏰ <b>Чат не приняли за {minutes} мин</b> — он предложен всем менеджерам онлайн. Ещё можно принять.",
            "⏰ <b>Чат не приняли за {minutes} мин</b> — он предложен всем менеджерам онлайн. Ещё можно принять.",
            minutes).format(minutes=minutes)
        return _edit_offer(card, offer, text, offer_keyboard(card))

    def set_offline_for_missing(self, manager_telegram_id: int, missed: int) -> OutgoingCall:
        text = ngettext(
            "🔴 Вы пропустили {missed} предложение чата подряд, поэтому смена приостановлена: новые чаты "
            "не приходят. Вернуться — /online.",
            "🔴 Вы пропустили {missed} предложения чата подряд, поэтому смена приостановлена: новые чаты "
            "не приходят. Вернуться — /online.", missed).format(missed=missed)
        return self._notice(manager_telegram_id, text, purpose="notice")

    def admin_notice_missed(self, admin_telegram_id: int, manager_name: str, missed: int) -> OutgoingCall:
        text = ngettext(
            "⚠️ Менеджер <b>{manager}</b> пропустил {missed} предложение подряд и переведён в офлайн.",
            "⚠️ Менеджер <b>{manager}</b> пропустил {missed} предложения подряд и переведён в офлайн.",
            missed).format(manager=escape(manager_name), missed=missed)
        return self._notice(admin_telegram_id, text, purpose="notice")

    def transferred(self, card: ChatCard, manager_telegram_id: int, from_name: str, note: str | None) -> OutgoingCall:
        text = (card_text(card, self.zone).replace("🆕", "🔄", 1)
                + "\n\n" + _("🔄 <b>{colleague} передал(а) вам этот чат.</b>").format(colleague=escape(from_name)))
        if note:
            text += "\n" + _("📝 Заметка: {note}").format(note=escape(note))
        return self._notice(manager_telegram_id, text, purpose="handover", card=card, markup=assigned_keyboard(card))

    def idle_closed(self, card: ChatCard, manager_telegram_id: int) -> OutgoingCall:
        text = _("⌛ Чат #{chat_id} · {client} — закрыт автоматически: долго не было сообщений.").format(
            chat_id=card.chat_id, client=client_label(card))
        return self._notice(manager_telegram_id, text, purpose="notice", card=card)

    def sla_reminder(self, card: ChatCard, manager_telegram_id: int, minutes: int) -> OutgoingCall:
        text = ngettext("⏰ <b>{client}</b> ждёт ответа уже {minutes} мин (чат #{chat_id}).",
                        "⏰ <b>{client}</b> ждёт ответа уже {minutes} мин (чат #{chat_id}).", minutes).format(
            client=client_label(card), minutes=minutes, chat_id=card.chat_id)
        markup = InlineKeyboardMarkup(inline_keyboard=[answer_row(card.chat_id)])
        return self._notice(manager_telegram_id, text, purpose="reminder", card=card, markup=markup)

    def sla_alert(self, card: ChatCard, admin_telegram_id: int, minutes: int) -> OutgoingCall:
        text = ngettext(
            "🚨 Клиент <b>{client}</b> ждёт ответа {minutes} мин в чате #{chat_id} (менеджер: {manager}).",
            "🚨 Клиент <b>{client}</b> ждёт ответа {minutes} мин в чате #{chat_id} (менеджер: {manager}).",
            minutes).format(client=client_label(card), minutes=minutes, chat_id=card.chat_id,
                            manager=escape(card.manager_name or "—"))
        markup = single_button(_("📋 Подробности"), ChatAction.DETAILS, card.chat_id)
        return self._notice(admin_telegram_id, text, purpose="reminder", card=card, markup=markup)

    def rating(self, card: ChatCard, manager_telegram_id: int, rating: int, comment: str | None) -> OutgoingCall:
        stars = "⭐️" * rating + "☆" * (5 - rating)
        text = stars + " " + _("Клиент {client} оценил чат #{chat_id}: {rating}/5").format(
            client=client_label(card), chat_id=card.chat_id, rating=rating)
        if comment:
            text += f"\n💬 «{escape(comment)}»"
        return self._notice(manager_telegram_id, text, purpose="notice", card=card)


    def daily_summary(self, summary: DailySummary, admin_telegram_id: int) -> OutgoingCall:
        figures = summary.figures
        rating = (_("{average} (оценок: {count})").format(average=f"{figures.rating_average:.2f}",
                                                          count=figures.rating_count)
                  if figures.rating_count else _("оценок нет"))
        text = "\n".join([
            _("📊 <b>Итоги дня {day}</b>").format(day=f"{summary.day:%d.%m.%Y}"),
            _("🆕 Новых чатов: {count}").format(count=figures.chats),
            _("✅ Принято менеджерами: {count}").format(count=figures.taken),
            _("⏱ Медиана первого ответа: {duration}").format(duration=duration(figures.median_first_response)),
            _("🔚 Медиана до закрытия: {duration}").format(duration=duration(figures.median_time_to_close)),
            _("⌛ Закрыто по неактивности: {count}").format(count=figures.closed_idle),
            _("⏳ Ждут в очереди сейчас: {count}").format(count=summary.waiting),
            _("⭐️ Средняя оценка: {rating}").format(rating=rating),
        ])
        return self._notice(admin_telegram_id, text, purpose="notice", priority=Priority.BULK)


def status_label(status: str) -> str:
    labels = {ChatStatus.WAITING: N_("⏳ ожидает менеджера"), ChatStatus.ASSIGNED: N_("💬 в работе"),
              ChatStatus.CLOSED: N_("🔚 закрыт")}
    return _(labels[status]) if status in labels else status


def duration(seconds: float | None) -> str:
    """support.stats.format_duration in the reader's language («4 мин 05 с», «4 min 05 s»)."""
    return format_duration(seconds, i18n.current_locale)


def history_body(entry: HistoryEntry) -> str:
    """What the AI and managers wrote is Markdown (the widget shows it formatted, so does Telegram); the
    visitor's and the system's words are plain text."""
    if entry.sender in ("ai", "manager"):
        return markdown_to_telegram_html(entry.text)
    return escape(entry.text, quote=False)


def details_pages(card: ChatCard, history: Sequence[HistoryEntry], zone: dt.tzinfo) -> list[str]:
    """The chat's info and its whole history, cut into pages that fit a Telegram message."""
    head = [
        _("📋 <b>Чат #{chat_id}</b> — {status}").format(chat_id=card.chat_id, status=status_label(card.status)),
        _("👤 Клиент: {client}").format(client=_given(card.client_name)) + _verified_mark(card),
        _("📞 Телефон: {phone}").format(phone=_given(card.client_phone)),
        _("🌐 Страница: {page}").format(page=_given(card.page_url)),
        *context_details(card),
        _("🧑‍💼 Менеджер: {manager}").format(
            manager=escape(card.manager_name) if card.manager_name else _("не назначен")),
        _("🕐 Создан: {created}").format(created=local_text(card.created_at, zone, locale=i18n.current_locale)),
        _("✉️ Сообщений: {count}").format(count=len(history)),
        "",
        _("<b>История:</b> <i>(время {zone})</i>").format(
            zone=zone_label(zone, card.created_at, i18n.current_locale)),
    ]
    entries = []
    for entry in history:
        label = _(SENDER_LABELS[entry.sender]) if entry.sender in SENDER_LABELS else entry.sender
        if entry.sender == "manager":
            label = f"🧑‍💼 {escape(entry.author or _('Менеджер'))}"
        body = cut_html(history_body(entry), HISTORY_PAGE_CHARS - 200)
        entries.append(f"<b>{label}</b> <i>{as_local(entry.created_at, zone):%H:%M}</i>\n{body}")
    if not entries:
        entries.append(_("<i>Сообщений пока нет.</i>"))
    pages: list[str] = []
    current = "\n".join(head)
    for entry in entries:
        if len(current) + len(entry) + 2 > HISTORY_PAGE_CHARS:
            pages.append(current)
            current = entry
        else:
            current = f"{current}\n\n{entry}"
    pages.append(current)
    return pages


FIND_USAGE = N_("🔎 Поиск чатов: <code>/find телефон</code>, <code>/find имя</code> или <code>/find слова из "
                "переписки</code>.\nНапример: <code>/find +7 999 123-45-67</code>")


def find_results(
    query: str, cards: Sequence[ChatCard], *, everyone: bool
) -> tuple[str, list[list[InlineKeyboardButton]]]:
    """/find's answer: one line per chat, newest first, each with its «📋 Подробности» button."""
    query = escape(_shorten(query, 100))
    if not cards:
        return (_("🔎 По запросу «{query}» во всех чатах ничего не найдено.") if everyone
                else _("🔎 По запросу «{query}» в ваших чатах ничего не найдено.")).format(query=query), []
    lines = [(_("🔎 <b>Найдено во всех чатах: {count}</b> (сначала новые)") if everyone
              else _("🔎 <b>Найдено в ваших чатах: {count}</b> (сначала новые)")).format(count=len(cards)), ""]
    rows = []
    for card in cards:
        phone = f", {escape(card.client_phone)}" if card.client_phone else ""
        verified = " ✔️" if card.context is not None and card.context.verified else ""
        lines.append(f"• #{card.chat_id} {card.created_at:%d.%m.%Y} — {client_label(card)}{verified}{phone} — "
                     f"{status_label(card.status)}")
        rows.append([chat_button(_("📋 Подробности #{chat_id}").format(chat_id=card.chat_id), ChatAction.DETAILS,
                                 card.chat_id)])
    return "\n".join(lines), rows


def close_confirmation(card: ChatCard) -> tuple[str, InlineKeyboardMarkup]:
    text = _("🔚 <b>Завершить чат #{chat_id}</b> · {client}?\n"
             "Клиент увидит, что разговор окончен, и сможет оценить его.").format(
        chat_id=card.chat_id, client=client_label(card))
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Да, завершить"), callback_data=CloseChat(chat_id=card.chat_id, confirm=True))
    builder.button(text=_("Отмена"), callback_data=CloseChat(chat_id=card.chat_id, confirm=False))
    return text, builder.as_markup()


def history_keyboard(card: ChatCard, page: int, total: int, *, can_act: bool) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    if total > 1:
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton(text="◀️", callback_data=HistoryPage(
                chat_id=card.chat_id, page=page - 1).pack()))
        nav.append(InlineKeyboardButton(text=f"{page + 1}/{total}", callback_data=HistoryPage(
            chat_id=card.chat_id, page=page).pack()))
        if page < total - 1:
            nav.append(InlineKeyboardButton(text="▶️", callback_data=HistoryPage(
                chat_id=card.chat_id, page=page + 1).pack()))
        rows.append(nav)
    if card.status == ChatStatus.WAITING:
        rows.append([InlineKeyboardButton(text=_("✅ Принять чат"), callback_data=HistoryPage(
            chat_id=card.chat_id, page=page, accept=True).pack())])
    elif card.status == ChatStatus.ASSIGNED and can_act:
        rows.append([chat_button(_("💬 Ответить"), ChatAction.REPLY, card.chat_id),
                     chat_button(_("🔚 Завершить"), ChatAction.CLOSE, card.chat_id)])
    if card.context is not None and card.context.returning and page == 0:
        rows.append([chat_button(f"📋 #{past.chat_id}", ChatAction.DETAILS, past.chat_id)
                     for past in card.context.earlier_chats])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
