"""SMTP delivery of the email queue (models.EmailDelivery) through aiosmtplib, on the shared DeliveryWorker loop.

Each row is rendered by support/transcripts.py when it is sent (a text and an HTML part), handed to the
configured server, and retried with backoff while the server is unreachable or answers with a temporary (4xx)
error; a permanent refusal (5xx, e.g. an unknown mailbox) fails the row for good and the log says why.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib

from core.config import EmailSettings
from models import EmailDelivery, OutboxStatus
from support.contracts import ChatNotFound
from support.delivery import DeliveryWorker, backoff
from support.transcripts import Email, Transcripts

log = logging.getLogger(__name__)


def build_message(settings: EmailSettings, email: Email) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = email.recipient
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


async def send(settings: EmailSettings, message: EmailMessage) -> None:
    await aiosmtplib.send(
        message, hostname=settings.host, port=settings.port, username=settings.user or None,
        password=settings.password or None, use_tls=settings.security == "tls",
        start_tls=settings.security == "starttls", timeout=settings.timeout_seconds,
    )


class EmailWorker(DeliveryWorker):
    name = "email"
    model = EmailDelivery
    destination = "recipient"  # one mailbox's letters in order; a bad mailbox does not hold the others

    def __init__(self, settings: EmailSettings, transcripts: Transcripts, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.transcripts = transcripts

    async def _deliver(self, row: EmailDelivery) -> int:
        try:
            message = build_message(self.settings, await self.transcripts.render(row))
        except ChatNotFound:
            await self._finish(row, OutboxStatus.FAILED, error="the conversation no longer exists")
            return 0
        try:
            await send(self.settings, message)
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                await self._retry(row, backoff(row.attempts), f"SMTP {exc.code}: {exc.message}")
                return 0
            log.error("SMTP refused the transcript to %s (row %s): %s %s", row.recipient, row.id, exc.code,
                      exc.message)
            await self._finish(row, OutboxStatus.FAILED, error=f"SMTP {exc.code}: {exc.message}")
            return 0
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self._retry(row, backoff(row.attempts), f"{type(exc).__name__}: {exc}")
            return 0
        await self._finish(row, OutboxStatus.SENT)
        return 1
