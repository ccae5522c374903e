"""Each manager's language, remembered: what renders the outbox's messages in the recipient's language.

No aiogram here: the product loads these at start, before the Telegram side (bot.i18n) has loaded."""

from __future__ import annotations

from core.i18n import language
from models import Manager


class ManagerLanguages:
    """Telegram id -> the language its manager's Telegram app reports, kept in managers.language_code.

    Loaded at start and updated as updates arrive, so rendering an outgoing message needs no query."""

    def __init__(self) -> None:
        self._codes: dict[int, str] = {}

    async def load(self) -> None:
        rows = await Manager.select(Manager.telegram_id, Manager.language_code).where(
            Manager.language_code.is_null(False)).aio_execute()
        self._codes = {row.telegram_id: row.language_code for row in rows}

    def locale(self, telegram_id: int) -> str:
        return language(self._codes.get(telegram_id))

    async def remember(self, manager: Manager, code: str) -> None:
        self._codes[manager.telegram_id] = code
        if manager.language_code != code:
            await Manager.update(language_code=code).where(Manager.id == manager.id).aio_execute()
            manager.language_code = code
