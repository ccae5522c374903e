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
from bot.i18n import _
from bot.telegram_html import cut_html, markdown_to_telegram_html, telegram_quote
from models import AcceptButton, Attachment, ChatStatus, Outbox
from support.attachments import IMAGE_TYPES
from support.contracts import ChatCard, DailySummary, Exchange, HistoryEntry, VisitorContext
from support.localtime import as_local, default_zone, local_text, zone_label
from support.outbox import Coalesce, OutgoingCall, Priority
from support.stats import format_duration

TELEGRAM_TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
AI_QUOTE_LIMIT = 300
QUESTION_QUOTE_LIMIT = 200
HISTORY_PAGE_CHARS = 3500
NOT_GIVEN = "не указано"

SENDER_LABELS = {"user": "👤 Клиент", "ai": "🤖 ИИ", "manager": "🧑‍💼", "system": "ℹ️ Система"}


def client_label(card: ChatCard) -> str:
    return escape(card.client_name) if card.client_name else f"Клиент #{card.chat_id}"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _verified_mark(card: ChatCard) -> str:
    context = card.context
    if context is None or not context.external_id:
        return ""
    if context.verified:
        return " ✔️ проверен"
    return f" (ID {escape(_shorten(context.external_id, 40))}, не проверен)"


def _offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


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
        lines.append("🧭 Откуда: " + " · ".join(source))
    if len(context.pages) > 1:
        lines.append(f"📄 Страниц за визит: {len(context.pages)}")
    if context.device:
        lines.append(f"💻 {escape(context.device)}")
    if clock := _client_clock(context, "%H:%M"):
        lines.append(f"🕰 У клиента сейчас {clock}")
    if context.returning:
        chats = ", ".join(f"#{past.chat_id}" for past in context.earlier_chats)
        lines.append(f"🔁 Возвращается: прошлые чаты {chats}")
    return lines


def context_details(card: ChatCard) -> list[str]:
    """All of the visitor's context, for «📋 Подробности»."""
    context = card.context
    if context is None:
        return []
    lines = []
    if context.external_id:
        state = "✔️ проверен" if context.verified else "не проверен"
        lines.append(f"🪪 ID на сайте: {escape(context.external_id)} ({state})")
    if context.email:
        lines.append(f"✉️ Email: {escape(context.email)}")
    if context.page_title:
        lines.append(f"🏷 Заголовок страницы: {escape(_shorten(context.page_title, 200))}")
    if context.referrer:
        lines.append(f"🧭 Пришёл с: {escape(_shorten(context.referrer, 300))}")
    for key, value in context.utm:
        lines.append(f"🏷 {escape(key)}: {escape(_shorten(value, 100))}")
    if context.device:
        lines.append(f"💻 Устройство: {escape(context.device)}")
    if clock := _client_clock(context, "%d.%m %H:%M"):
        lines.append(f"🕰 Время клиента: {clock}")
    if context.pages:
        lines.append(f"📄 <b>Страницы за визит ({len(context.pages)}):</b>")
        lines += [f"{n}. {escape(_shorten(title, 60)) + ' — ' if title else ''}{escape(_shorten(url, 120))}"
                  for n, (url, title) in enumerate(context.pages, 1)]
    if context.returning:
        lines.append("🔁 <b>Прошлые чаты:</b>")
        lines += [f"• #{past.chat_id} от {past.created_at:%d.%m.%Y} — {status_label(past.status)}"
                  + (f": {escape(_shorten(past.summary, 100))}" if past.summary else "")
                  for past in context.earlier_chats]
    return lines


def card_text(card: ChatCard, zone: dt.tzinfo) -> str:
    lines = [
        f"🆕 <b>Чат поддержки #{card.chat_id}</b>",
        "",
        f"👤 Клиент: {escape(card.client_name) if card.client_name else NOT_GIVEN}{_verified_mark(card)}",
        f"📞 Телефон: {escape(card.client_phone) if card.client_phone else NOT_GIVEN}",
        f"🌐 Страница: {escape(card.page_url) if card.page_url else NOT_GIVEN}",
        *context_lines(card),
        f"🕐 Создан: {local_text(card.created_at, zone)}",
    ]
    if card.summary:
        lines[1:1] = ["", f"📝 <b>Суть:</b> {escape(card.summary)}"]
    if card.recent_exchanges:
        lines += ["", f"🗂 <b>Последние сообщения ({len(card.recent_exchanges)}):</b>"]
        lines += [exchange_text(exchange) for exchange in card.recent_exchanges]
    else:
        lines += ["", "🤖 Клиент ещё не общался с ИИ."]
    return "\n".join(lines)


def exchange_text(exchange: Exchange) -> str:
    """A visitor's question and the AI's answer, each heading on its own line above its text."""
    question = escape(_shorten(exchange.question, QUESTION_QUOTE_LIMIT)) if exchange.question else "<i>—</i>"
    answer = (telegram_quote(exchange.answer, AI_QUOTE_LIMIT) if exchange.answer
              else "<i>ИИ не ответил: клиент попросил менеджера.</i>")
    return f"\n👤 <b>Клиент:</b>\n{question}\n🤖 <b>ИИ:</b>\n{answer}"


def chat_button(text: str, action: ChatAction, chat_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ChatCallback(action=action, chat_id=chat_id).pack())


def single_button(text: str, action: ChatAction, chat_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[chat_button(text, action, chat_id)]])


def offer_keyboard(card: ChatCard) -> InlineKeyboardMarkup:
    rows = [[chat_button("✅ Принять чат", ChatAction.ACCEPT, card.chat_id)],
            [chat_button("📋 Подробности", ChatAction.DETAILS, card.chat_id)]]
    if card.client_phone:
        rows[1].append(chat_button("📞 Позвонить", ChatAction.CALL, card.chat_id))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def answer_row(chat_id: int) -> list[InlineKeyboardButton]:
    """«💬 Ответить» + «📋 Подробности»: under everything a manager may want to answer."""
    return [chat_button("💬 Ответить", ChatAction.REPLY, chat_id),
            chat_button("📋 Подробности", ChatAction.DETAILS, chat_id)]


def assigned_keyboard(card: ChatCard) -> InlineKeyboardMarkup:
    rows = [[*answer_row(card.chat_id), chat_button("📝 Шаблоны", ChatAction.TEMPLATES, card.chat_id)],
            [chat_button("↪️ Передать", ChatAction.TRANSFER, card.chat_id),
             chat_button("👥 Пригласить", ChatAction.INVITE, card.chat_id),
             chat_button("🔚 Завершить", ChatAction.CLOSE, card.chat_id)]]
    if card.client_phone:
        rows[1].insert(0, chat_button("📞 Позвонить", ChatAction.CALL, card.chat_id))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def colleague_keyboard(card: ChatCard) -> InlineKeyboardMarkup:
    """For a manager invited into someone else's chat: answer, look, or step out."""
    return InlineKeyboardMarkup(inline_keyboard=[[*answer_row(card.chat_id),
                                                  chat_button("🚪 Выйти", ChatAction.LEAVE, card.chat_id)]])


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
    return _shorten(card.client_name, limit) if card.client_name else f"Клиент #{card.chat_id}"


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
    return [f"{header} (часть {n}/{len(escaped)})\n\n{piece}" for n, piece in enumerate(escaped, 1)]


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
            text = card_text(card, self.zone) + (
                "\n\n✅ <b>Вы приняли этот чат.</b> Нажмите «💬 Ответить» или ответьте (reply) "
                "на сообщение клиента."
            )
            markup: InlineKeyboardMarkup | None = assigned_keyboard(card)
        else:
            text = card_text(card, self.zone) + f"\n\n🔒 Чат принял(а) {escape(card.manager_name or '?')}."
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
        text = card_text(card, self.zone) + (
            "\n\n⚠️ <b>Нет менеджеров онлайн</b> — чат ждёт в очереди. Менеджер, который начнёт смену "
            "(/online), получит его."
        )
        markup = single_button("✅ Принять чат", ChatAction.ACCEPT, card.chat_id)
        return OutgoingCall(
            chat_id=admin_telegram_id,
            method="sendMessage",
            params=_send(admin_telegram_id, text, markup),
            purpose="offer",
            support_chat_id=card.chat_id,
        )

    def visitor_message(self, card: ChatCard, manager_telegram_id: int, text: str) -> list[OutgoingCall]:
        header = f"💬 <b>{client_label(card)}</b> · чат #{card.chat_id}"
        pieces = split_for_telegram(header, text)
        markup = InlineKeyboardMarkup(inline_keyboard=[answer_row(card.chat_id)])
        # A message that fits whole may share one Telegram message with others queued for this manager; its
        # buttons then say whose they are.
        coalesce = Coalesce(header=header, body=pieces[0].removeprefix(f"{header}\n\n"), buttons=[
            _dump(chat_button(f"💬 Ответить · {_button_name(card)}", ChatAction.REPLY, card.chat_id)),
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
        text = f"📎 <b>{client_label(card)}</b> · чат #{card.chat_id}"
        if caption:
            text += "\n\n" + escape(_shorten(caption, CAPTION_LIMIT - len(text) - 10))
        params = {"chat_id": manager_telegram_id, kind: {"attachment_id": attachment.id}, "caption": text,
                  "parse_mode": "HTML",
                  "reply_markup": _markup(InlineKeyboardMarkup(inline_keyboard=[answer_row(card.chat_id)]))}
        method = "sendPhoto" if kind == "photo" else "sendDocument"
        return OutgoingCall(chat_id=manager_telegram_id, method=method, params=params, purpose="relay",
                            support_chat_id=card.chat_id, priority=Priority.RELAY)

    def invitation(self, card: ChatCard, colleague_telegram_id: int, from_name: str) -> OutgoingCall:
        text = card_text(card, self.zone).replace("🆕", "👥", 1) + (
            f"\n\n👥 <b>{escape(from_name)} приглашает вас в этот чат.</b> Вы будете видеть сообщения клиента "
            "и сможете отвечать; завершает чат по-прежнему " + escape(from_name) + ".")
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            chat_button("✅ Присоединиться", ChatAction.JOIN, card.chat_id),
            chat_button("📋 Подробности", ChatAction.DETAILS, card.chat_id)]])
        return self._notice(colleague_telegram_id, text, purpose="invitation", card=card, markup=markup)

    def closed_elsewhere(self, card: ChatCard, manager_telegram_id: int, by: str) -> OutgoingCall:
        text = f"🔚 Чат #{card.chat_id} · {client_label(card)} — закрыт из внешней системы ({escape(by)})."
        return self._notice(manager_telegram_id, text, purpose="notice", card=card)

    def colleague_joined(self, card: ChatCard, manager_telegram_id: int, colleague_name: str) -> OutgoingCall:
        text = (f"👥 {escape(colleague_name)} теперь тоже в чате #{card.chat_id} · {client_label(card)}: "
                "сообщения клиента приходят вам обоим.")
        return self._notice(manager_telegram_id, text, purpose="notice", card=card)

    def colleague_said(self, card: ChatCard, manager_telegram_id: int, colleague_name: str, text: str) -> OutgoingCall:
        header = f"🗣 <b>{escape(colleague_name)}</b> → {client_label(card)} · чат #{card.chat_id}"
        body = cut_html(markdown_to_telegram_html(text), TELEGRAM_TEXT_LIMIT - len(header) - 100)
        return self._notice(manager_telegram_id, f"{header}\n\n{body}", purpose="notice", card=card,
                            priority=Priority.RELAY)

    def _notice(self, chat_id: int, text: str, *, purpose: str, card: ChatCard | None = None,
                markup: InlineKeyboardMarkup | None = None, priority: Priority = Priority.URGENT) -> OutgoingCall:
        return OutgoingCall(chat_id=chat_id, method="sendMessage", params=_send(chat_id, text, markup),
                            purpose=purpose, support_chat_id=card.chat_id if card else None, priority=priority)

    def lead_alert(self, card: ChatCard, admin_telegram_id: int) -> OutgoingCall:
        text = card_text(card, self.zone).replace("🆕", "📇", 1) + (
            "\n\n🌙 <b>Заявка в нерабочее время.</b> Клиент ждёт звонка или ответа, когда начнётся смена."
        )
        markup = single_button("✅ Принять чат", ChatAction.ACCEPT, card.chat_id)
        return self._notice(admin_telegram_id, text, purpose="offer", card=card, markup=markup)

    def offer_expired(self, card: ChatCard, offer: Outbox, timeout_seconds: int) -> OutgoingCall:
        minutes = max(1, round(timeout_seconds / 60))
        text = card_text(card, self.zone) + (
            f"\n\n⏰ <b>Чат не приняли за {minutes} мин</b> — он предложен всем менеджерам онлайн. "
            "Ещё можно принять."
        )
        return _edit_offer(card, offer, text, offer_keyboard(card))

    def set_offline_for_missing(self, manager_telegram_id: int, missed: int) -> OutgoingCall:
        text = (f"🔴 Вы пропустили {missed} предложения чата подряд, поэтому смена приостановлена: новые чаты "
                "не приходят. Вернуться — /online.")
        return self._notice(manager_telegram_id, text, purpose="notice")

    def admin_notice_missed(self, admin_telegram_id: int, manager_name: str, missed: int) -> OutgoingCall:
        text = (f"⚠️ Менеджер <b>{escape(manager_name)}</b> пропустил {missed} предложения подряд "
                "и переведён в офлайн.")
        return self._notice(admin_telegram_id, text, purpose="notice")

    def transferred(self, card: ChatCard, manager_telegram_id: int, from_name: str, note: str | None) -> OutgoingCall:
        text = (card_text(card, self.zone).replace("🆕", "🔄", 1)
                + f"\n\n🔄 <b>{escape(from_name)} передал(а) вам этот чат.</b>")
        if note:
            text += f"\n📝 Заметка: {escape(note)}"
        return self._notice(manager_telegram_id, text, purpose="handover", card=card, markup=assigned_keyboard(card))

    def idle_closed(self, card: ChatCard, manager_telegram_id: int) -> OutgoingCall:
        text = f"⌛ Чат #{card.chat_id} · {client_label(card)} — закрыт автоматически: долго не было сообщений."
        return self._notice(manager_telegram_id, text, purpose="notice", card=card)

    def sla_reminder(self, card: ChatCard, manager_telegram_id: int, minutes: int) -> OutgoingCall:
        text = f"⏰ <b>{client_label(card)}</b> ждёт ответа уже {minutes} мин (чат #{card.chat_id})."
        markup = InlineKeyboardMarkup(inline_keyboard=[answer_row(card.chat_id)])
        return self._notice(manager_telegram_id, text, purpose="reminder", card=card, markup=markup)

    def sla_alert(self, card: ChatCard, admin_telegram_id: int, minutes: int) -> OutgoingCall:
        text = (f"🚨 Клиент <b>{client_label(card)}</b> ждёт ответа {minutes} мин в чате #{card.chat_id} "
                f"(менеджер: {escape(card.manager_name or '—')}).")
        markup = single_button("📋 Подробности", ChatAction.DETAILS, card.chat_id)
        return self._notice(admin_telegram_id, text, purpose="reminder", card=card, markup=markup)

    def rating(self, card: ChatCard, manager_telegram_id: int, rating: int, comment: str | None) -> OutgoingCall:
        stars = "⭐️" * rating + "☆" * (5 - rating)
        text = f"{stars} Клиент {client_label(card)} оценил чат #{card.chat_id}: {rating}/5"
        if comment:
            text += f"\n💬 «{escape(comment)}»"
        return self._notice(manager_telegram_id, text, purpose="notice", card=card)


    def daily_summary(self, summary: DailySummary, admin_telegram_id: int) -> OutgoingCall:
        figures = summary.figures
        rating = (f"{figures.rating_average:.2f} (оценок: {figures.rating_count})" if figures.rating_count
                  else "оценок нет")
        text = "\n".join([
            f"📊 <b>Итоги дня {summary.day:%d.%m.%Y}</b>",
            f"🆕 Новых чатов: {figures.chats}",
            f"✅ Принято менеджерами: {figures.taken}",
            f"⏱ Медиана первого ответа: {format_duration(figures.median_first_response)}",
            f"🔚 Медиана до закрытия: {format_duration(figures.median_time_to_close)}",
            f"⌛ Закрыто по неактивности: {figures.closed_idle}",
            f"⏳ Ждут в очереди сейчас: {summary.waiting}",
            f"⭐️ Средняя оценка: {rating}",
        ])
        return self._notice(admin_telegram_id, text, purpose="notice", priority=Priority.BULK)


def status_label(status: str) -> str:
    return {ChatStatus.WAITING: "⏳ ожидает менеджера", ChatStatus.ASSIGNED: "💬 в работе",
            ChatStatus.CLOSED: "🔚 закрыт"}.get(status, status)


def history_body(entry: HistoryEntry) -> str:
    """What the AI and managers wrote is Markdown (the widget shows it formatted, so does Telegram); the
    visitor's and the system's words are plain text."""
    if entry.sender in ("ai", "manager"):
        return markdown_to_telegram_html(entry.text)
    return escape(entry.text, quote=False)


def details_pages(card: ChatCard, history: Sequence[HistoryEntry], zone: dt.tzinfo) -> list[str]:
    """The chat's info and its whole history, cut into pages that fit a Telegram message."""
    head = [
        f"📋 <b>Чат #{card.chat_id}</b> — {status_label(card.status)}",
        f"👤 Клиент: {escape(card.client_name) if card.client_name else NOT_GIVEN}{_verified_mark(card)}",
        f"📞 Телефон: {escape(card.client_phone) if card.client_phone else NOT_GIVEN}",
        f"🌐 Страница: {escape(card.page_url) if card.page_url else NOT_GIVEN}",
        *context_details(card),
        f"🧑‍💼 Менеджер: {escape(card.manager_name) if card.manager_name else 'не назначен'}",
        f"🕐 Создан: {local_text(card.created_at, zone)}",
        f"✉️ Сообщений: {len(history)}",
        "",
        f"<b>История:</b> <i>(время {zone_label(zone, card.created_at)})</i>",
    ]
    entries = []
    for entry in history:
        label = SENDER_LABELS.get(entry.sender, entry.sender)
        if entry.sender == "manager":
            label = f"🧑‍💼 {escape(entry.author or 'Менеджер')}"
        body = cut_html(history_body(entry), HISTORY_PAGE_CHARS - 200)
        entries.append(f"<b>{label}</b> <i>{as_local(entry.created_at, zone):%H:%M}</i>\n{body}")
    if not entries:
        entries.append("<i>Сообщений пока нет.</i>")
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


FIND_USAGE = ("🔎 Поиск чатов: <code>/find телефон</code>, <code>/find имя</code> или <code>/find слова из "
              "переписки</code>.\nНапример: <code>/find +7 999 123-45-67</code>")


def find_results(
    query: str, cards: Sequence[ChatCard], *, everyone: bool
) -> tuple[str, list[list[InlineKeyboardButton]]]:
    """/find's answer: one line per chat, newest first, each with its «📋 Подробности» button."""
    where = "во всех чатах" if everyone else "в ваших чатах"
    if not cards:
        return f"🔎 По запросу «{escape(_shorten(query, 100))}» {where} ничего не найдено.", []
    lines = [f"🔎 <b>Найдено {where}: {len(cards)}</b> (сначала новые)", ""]
    rows = []
    for card in cards:
        phone = f", {escape(card.client_phone)}" if card.client_phone else ""
        verified = " ✔️" if card.context is not None and card.context.verified else ""
        lines.append(f"• #{card.chat_id} {card.created_at:%d.%m.%Y} — {client_label(card)}{verified}{phone} — "
                     f"{status_label(card.status)}")
        rows.append([chat_button(f"📋 Подробности #{card.chat_id}", ChatAction.DETAILS, card.chat_id)])
    return "\n".join(lines), rows


def close_confirmation(card: ChatCard) -> tuple[str, InlineKeyboardMarkup]:
    text = (f"🔚 <b>Завершить чат #{card.chat_id}</b> · {client_label(card)}?\n"
            "Клиент увидит, что разговор окончен, и сможет оценить его.")
    builder = InlineKeyboardBuilder()
    builder.button(text="Да, завершить", callback_data=CloseChat(chat_id=card.chat_id, confirm=True))
    builder.button(text="Отмена", callback_data=CloseChat(chat_id=card.chat_id, confirm=False))
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
        rows.append([InlineKeyboardButton(text="✅ Принять чат", callback_data=HistoryPage(
            chat_id=card.chat_id, page=page, accept=True).pack())])
    elif card.status == ChatStatus.ASSIGNED and can_act:
        rows.append([chat_button("💬 Ответить", ChatAction.REPLY, card.chat_id),
                     chat_button("🔚 Завершить", ChatAction.CLOSE, card.chat_id)])
    if card.context is not None and card.context.returning and page == 0:
        rows.append([chat_button(f"📋 #{past.chat_id}", ChatAction.DETAILS, past.chat_id)
                     for past in card.context.earlier_chats])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
