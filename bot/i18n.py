"""The bot's languages: aiogram's I18n over the project's catalogs, and each manager's language remembered.

Texts in bot/ are wrapped in `_()` (Russian msgids). In a handler the locale is the one SimpleI18nMiddleware
chose from the sender's Telegram `language_code`; messages queued through the outbox are rendered in the stored
language of the manager they go to (see `Localised`).
"""

from __future__ import annotations

import gettext
import inspect
from contextlib import nullcontext
from typing import Any

from aiogram.types import TelegramObject
from aiogram.utils.i18n import I18n, SimpleI18nMiddleware

from bot.languages import ManagerLanguages
from core.i18n import DEFAULT_LOCALE, LOCALES_DIR, N_, catalogs
from models import AcceptButton, Manager, Outbox

__all__ = ["N_", "Localised", "ManagerI18n", "ManagerLanguages", "_", "i18n", "ngettext", "reason_of"]


class Catalogs(I18n):
    """aiogram's I18n, fed by core.i18n's catalogs compiled in memory rather than by .mo files on disk."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        return dict(catalogs(self.path))


i18n = Catalogs(path=LOCALES_DIR, default_locale=DEFAULT_LOCALE)


def _(message: str) -> str:
    """The text in the current manager's language (Russian outside any update or outgoing message)."""
    return i18n.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a text that fits the number `n`, in the current manager's language (Russian has three)."""
    return i18n.gettext(singular, plural, n)


def reason_of(error: Exception) -> str:
    """A refusal's words in the current language: errors from support/ that carry a catalog `template` and its
    `values` (TemplateError, TeamError, GreetingError) are translated, any other says what it says."""
    template = getattr(error, "template", None)
    if not isinstance(template, str):
        return str(error)
    values = getattr(error, "values", None) or {}
    return i18n.gettext(template).format(**values) if values else i18n.gettext(template)


class ManagerI18n(SimpleI18nMiddleware):
    """The sender's Telegram language picks the catalog; a manager's is also stored for the outbox."""

    def __init__(self, languages: ManagerLanguages) -> None:
        super().__init__(i18n)
        self.languages = languages

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        user = data.get("event_from_user")
        manager: Manager | None = data.get("manager")
        if manager is not None and user is not None and user.language_code:
            await self.languages.remember(manager, user.language_code)
        return await super().get_locale(event=event, data=data)


def _recipient(bound: inspect.BoundArguments) -> int | None:
    """Who an outgoing message goes to: the argument naming a Telegram chat, or the offer (or details page's
    accept button) being edited."""
    for name, value in bound.arguments.items():
        if isinstance(value, int) and not isinstance(value, bool) and (name.endswith("telegram_id")
                                                                         or name == "chat_id"):
            return value
        if isinstance(value, Outbox):
            return value.chat_id
        if isinstance(value, AcceptButton):
            return value.telegram_chat_id
    return None


class Localised:
    """Wraps a channel (bot.render / bot.topic_render) so each message is rendered in its recipient's language."""

    def __init__(self, channel: Any, languages: ManagerLanguages) -> None:
        self._channel = channel
        self._languages = languages

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._channel, name)
        if not callable(method):
            return method
        signature = inspect.signature(method)

        def localised(*args: Any, **kwargs: Any) -> Any:
            recipient = _recipient(signature.bind(*args, **kwargs))
            scope = nullcontext() if recipient is None else i18n.use_locale(self._languages.locale(recipient))
            with scope:
                return method(*args, **kwargs)

        # Kept: the next call finds it at once, without asking inspect for the signature again (a relayed
        # message renders through here, and the signature cost more than the rendering).
        self.__dict__[name] = localised
        return localised


