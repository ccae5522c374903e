"""The command menus: every manager's, and the admins' (the same plus /admin)."""

from aiogram.types import BotCommand

MANAGER_COMMANDS = [
    BotCommand(command="start", description="Главное меню и регистрация"),
    BotCommand(command="online", description="Начать рабочую смену (принимать чаты)"),
    BotCommand(command="offline", description="Завершить смену"),
    BotCommand(command="chats", description="Показать активные чаты"),
    BotCommand(command="find", description="Найти чат по телефону, имени или тексту"),
    BotCommand(command="cancel", description="Отменить текущее действие"),
]
ADMIN_COMMANDS = [*MANAGER_COMMANDS, BotCommand(command="admin", description="Админ-меню")]
