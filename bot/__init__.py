"""The Telegram side: the aiogram Bot and Dispatcher managers and admins work in (assembled in bot.assembly).

Importing this package imports no aiogram: app/ serves the widget before the Telegram side has loaded."""
