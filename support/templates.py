"""Saved replies: admins keep them, managers send them to a visitor with the chat's details filled in.

A template's text may name {name} (the client's name), {manager} (the manager's name) and {chat} (the chat's
number); anything else in braces is refused when the admin saves it, so a typo never reaches a visitor.
Filling is plain text in, plain text out: whoever shows it in HTML escapes it (bot/handlers/templates.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.i18n import N_, translate
from models import AuditLog, ReplyTemplate, utcnow
from support.contracts import ChatCard, SupportError

TITLE_LIMIT = 64
TEXT_LIMIT = 3500  # a filled template must still fit one Telegram message
PLACEHOLDERS = ("name", "manager", "chat")
NO_NAME = N_("Гость")  # the client's name in a filled template when they gave none, in their language
_FIELD = re.compile(r"\{([^{}]*)\}")


class TemplateError(SupportError):
    """A template an admin wrote cannot be saved; `reason` says why, in words fit for the admin (Russian; the
    bot says `template` with `values` in the admin's language)."""

    code = "template_invalid"

    def __init__(self, template: str, **values: object) -> None:
        self.template, self.values = template, values
        self.reason = template.format(**values) if values else template
        super().__init__(self.reason)


class TemplateNotFound(SupportError):
    code = "template_not_found"


@dataclass(frozen=True)
class TemplateContext:
    """What the placeholders stand for in one chat."""

    name: str
    manager: str
    chat: str

    @classmethod
    def of(cls, card: ChatCard, manager_name: str) -> TemplateContext:
        return cls(name=card.client_name or translate(card.visitor_locale, NO_NAME), manager=manager_name,
                   chat=str(card.chat_id))


def check_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise TemplateError(N_("Название не может быть пустым."))
    if len(title) > TITLE_LIMIT:
        raise TemplateError(N_("Название длиннее {limit} символов."), limit=TITLE_LIMIT)
    return title


def check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise TemplateError(N_("Текст шаблона не может быть пустым."))
    if len(text) > TEXT_LIMIT:
        raise TemplateError(N_("Текст длиннее {limit} символов."), limit=TEXT_LIMIT)
    unknown = sorted({field for field in _FIELD.findall(text) if field not in PLACEHOLDERS})
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise TemplateError(N_("Неизвестные подстановки: {unknown}. Можно использовать {known}."),
                            unknown=", ".join("{" + u + "}" for u in unknown), known=known)
    return text


def fill(text: str, context: TemplateContext) -> str:
    """The template's text for one chat (plain text: the values are put in as they are)."""
    values = {"name": context.name, "manager": context.manager, "chat": context.chat}
    return _FIELD.sub(lambda match: values.get(match.group(1), match.group(0)), text)


class Templates:
    async def all(self) -> list[ReplyTemplate]:
        return list(await ReplyTemplate.select().order_by(ReplyTemplate.title, ReplyTemplate.id).aio_execute())

    async def find(self, query: str) -> list[ReplyTemplate]:
        """Templates whose title or text contains every word typed (case-insensitive, any alphabet)."""
        words = query.casefold().split()
        return [template for template in await self.all()
                if all(word in f"{template.title} {template.text}".casefold() for word in words)]

    async def get(self, template_id: int) -> ReplyTemplate:
        template = await ReplyTemplate.aio_get_or_none(ReplyTemplate.id == template_id)
        if template is None:
            raise TemplateNotFound(template_id)
        return template

    async def add(self, actor_telegram_id: int, title: str, text: str) -> ReplyTemplate:
        title, text = check_title(title), check_text(text)
        template = await ReplyTemplate.aio_create(title=title, text=text, created_by=actor_telegram_id)
        await _audit(actor_telegram_id, "template_added", template)
        return template

    async def edit(
        self, actor_telegram_id: int, template_id: int, *, title: str | None = None, text: str | None = None
    ) -> ReplyTemplate:
        template = await self.get(template_id)
        if title is not None:
            template.title = check_title(title)
        if text is not None:
            template.text = check_text(text)
        template.updated_at = utcnow()
        await ReplyTemplate.update(title=template.title, text=template.text, updated_at=template.updated_at).where(
            ReplyTemplate.id == template.id).aio_execute()
        await _audit(actor_telegram_id, "template_edited", template)
        return template

    async def delete(self, actor_telegram_id: int, template_id: int) -> ReplyTemplate:
        template = await self.get(template_id)
        await ReplyTemplate.delete().where(ReplyTemplate.id == template.id).aio_execute()
        await _audit(actor_telegram_id, "template_deleted", template)
        return template


async def _audit(actor_telegram_id: int, action: str, template: ReplyTemplate) -> None:
    await AuditLog.aio_create(actor_telegram_id=actor_telegram_id, action=action, target=f"template:{template.id}",
                              details=template.title)
