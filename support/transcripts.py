"""Conversation transcripts by email: who may ask, what goes in, and links to the files that were sent.

A visitor asks for their conversation (the widget's menu or the rating step); with `[email] transcripts_to`
the admins get every closed chat. Both only queue a row (models.EmailDelivery) in the caller's transaction;
support/mailer.py renders the transcript when it sends, so it is complete, and retries until SMTP takes it.
Files appear as links signed with the session's token hash: only this server can make one, and it opens that
one file, not the chat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from core.i18n import N_, translate
from models import Attachment, ChatMessage, EmailDelivery, Sender, SupportChat, VisitorSession
from support.contracts import ChatNotFound
from support.store import ChatStore

EMAIL_RE = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]+\.[^@\s<>\"',;]{2,}$")
MAX_REQUESTS_PER_SESSION = 5  # a visitor's widget cannot be turned into a mail cannon

TEXTS = {
    "subject": N_("Ваша переписка с поддержкой {brand}"), "admin_subject": N_("Чат №{chat} закрыт: переписка"),
    "intro": N_("Переписка с поддержкой {brand}"), "user": N_("Вы"), "ai": N_("ИИ-консультант"),
    "manager": N_("Менеджер"), "system": N_("Система"), "file": N_("Файл"), "empty": N_("Сообщений нет."),
}
BRAND = "ILPO-TAXI"


class InvalidEmail(ValueError):
    pass


class TooManyTranscripts(Exception):
    pass


def check_email(address: str) -> str:
    address = address.strip()
    if len(address) > 320 or not EMAIL_RE.match(address):
        raise InvalidEmail(address)
    return address


def file_signature(session: VisitorSession, attachment_id: int) -> str:
    return hmac.new(session.token_hash.encode(), f"file:{attachment_id}".encode(), hashlib.sha256).hexdigest()[:32]


def check_file_signature(session: VisitorSession, attachment_id: int, signature: str) -> bool:
    return hmac.compare_digest(file_signature(session, attachment_id), signature)


@dataclass(frozen=True)
class Email:
    recipient: str
    subject: str
    text: str
    html: str


class Transcripts:
    def __init__(self, store: ChatStore, *, enabled: bool = False, admin_recipients: Sequence[str] = (),
                 base_url: str = "") -> None:
        self.store = store
        self.enabled = enabled
        self.admin_recipients = tuple(admin_recipients)
        self.base_url = base_url  # set by the product once it knows its address; file links start with it

    async def request(self, session: VisitorSession, address: str) -> None:
        """The visitor wants the whole conversation of this session by email."""
        recipient = check_email(address)
        sent = await EmailDelivery.select().where(EmailDelivery.session == session.id).aio_count()
        if sent >= MAX_REQUESTS_PER_SESSION:
            raise TooManyTranscripts(session.session_id)
        await EmailDelivery.aio_create(recipient=recipient, session=session.id, locale=session.locale)

    async def chat_closed(self, chat: SupportChat) -> None:
        """Called in the closing transaction: each admin recipient gets this chat's transcript."""
        for recipient in self.admin_recipients:
            await EmailDelivery.aio_create(recipient=recipient, session=chat.session_id, support_chat=chat.id,
                                           locale="ru")

    async def render(self, row: EmailDelivery) -> Email:
        session = await VisitorSession.aio_get_or_none(VisitorSession.id == row.session_id)
        if session is None:
            raise ChatNotFound(row.session_id)
        where = ChatMessage.session == session.id
        if row.support_chat_id:
            where &= ChatMessage.support_chat == row.support_chat_id
        messages = list(await ChatMessage.select().where(where).order_by(ChatMessage.id).aio_execute())
        texts = {key: translate(row.locale, message) for key, message in TEXTS.items()}
        subject = (texts["admin_subject"].format(chat=row.support_chat_id) if row.support_chat_id
                   else texts["subject"].format(brand=BRAND))
        intro = texts["intro"].format(brand=BRAND)
        lines, items = [intro, ""], []
        for message in messages:
            who = message.author_name if message.sender == Sender.MANAGER and message.author_name else texts.get(
                message.sender, message.sender)
            when = _stamp(message.created_at, self.store.policy.zone)
            link = self._file_link(session, message)
            text = message.text
            lines.append(f"[{when}] {who}: {text}" + (f"\n  {texts['file']}: {link}" if link else ""))
            file_html = f'<br><a href="{escape(link)}">📎 {escape(texts["file"])}</a>' if link else ""
            items.append(f'<tr><td style="color:#666;white-space:nowrap;vertical-align:top">{when}</td>'
                         f'<td style="vertical-align:top"><b>{escape(who)}</b></td>'
                         f'<td style="white-space:pre-wrap">{escape(text)}{file_html}</td></tr>')
        if not messages:
            lines.append(texts["empty"])
            items.append(f"<tr><td>{escape(texts['empty'])}</td></tr>")
        html = (f'<!doctype html><html><body style="font-family:sans-serif"><h2>{escape(intro)}</h2>'
                f'<table cellpadding="6">{"".join(items)}</table></body></html>')
        return Email(row.recipient, subject, "\n".join(lines) + "\n", html)

    def _file_link(self, session: VisitorSession, message: ChatMessage) -> str | None:
        meta = json.loads(message.meta) if message.meta else {}
        attachment = meta.get("attachment")
        if not isinstance(attachment, dict) or "id" not in attachment:
            return None
        attachment_id = int(attachment["id"])
        return f"{self.base_url}/api/chat/files/{attachment_id}?sig={file_signature(session, attachment_id)}"

    async def signed_file(self, attachment_id: int, signature: str) -> tuple[Attachment, object]:
        """A file reached through a transcript's link (ChatNotFound for a wrong or forged one)."""
        attachment = await Attachment.aio_get_or_none(Attachment.id == attachment_id)
        session = attachment and await VisitorSession.aio_get_or_none(VisitorSession.id == attachment.session_id)
        if attachment is None or session is None or not check_file_signature(session, attachment_id, signature):
            raise ChatNotFound(attachment_id)
        return attachment, self.store.files().path_for(attachment.sha256)


def _stamp(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """In the desk's time zone, as the managers saw it."""
    return moment.replace(tzinfo=dt.UTC).astimezone(zone).strftime("%d.%m.%Y %H:%M")
