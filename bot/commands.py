"""The command menus: every manager's, and the admins' (the same plus /admin)."""

from aiogram.types import BotCommand

from core.i18n import N_, translate

_MANAGER = (
    ("start", N_("Главное меню и регистрация")),
    ("online", N_("Начать рабочую смену (принимать чаты)")),
    ("offline", N_("Завершить смену")),
    ("chats", N_("Показать активные чаты")),
    ("find", N_("Найти чат по телефону, имени или тексту")),
    ("cancel", N_("Отменить текущее действие")),
)
_ADMIN = (*_MANAGER, ("admin", N_("Админ-меню")))


def manager_commands(locale: str = "ru") -> list[BotCommand]:
    return [BotCommand(command=command, description=translate(locale, text)) for command, text in _MANAGER]


def admin_commands(locale: str = "ru") -> list[BotCommand]:
    return [BotCommand(command=command, description=translate(locale, text)) for command, text in _ADMIN]


MANAGER_COMMANDS = manager_commands()
ADMIN_COMMANDS = admin_commands()
