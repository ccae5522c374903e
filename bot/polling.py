"""Telegram long polling as a role: started when this process becomes the poller, stopped when it stops being it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher

log = logging.getLogger(__name__)


class TelegramPoller:
    """getUpdates, started when this process gets the poller role and stopped when it loses it."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self._task: asyncio.Task[None] | None = None

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.polling:
            return
        with contextlib.suppress(Exception):
            await self.bot.delete_webhook(drop_pending_updates=False)
        self._task = asyncio.create_task(
            self.dispatcher.start_polling(
                # One update at a time: a manager's messages must reach the visitor in the order typed.
                self.bot, handle_signals=False, close_bot_session=False, polling_timeout=10, handle_as_tasks=False,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            ),
            name="telegram-polling",
        )
        log.info("Polling Telegram for updates")

    async def stop(self) -> None:
        if self._task is None:
            return
        # aiogram's stop_polling waits, without a deadline, for the polling loop to notice; give it one,
        # then cancel the loop (an update being handled then is retried by Telegram: updates are idempotent).
        with contextlib.suppress(RuntimeError, TimeoutError):
            await asyncio.wait_for(self.dispatcher.stop_polling(), timeout=15)
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._task, timeout=5)
        self._task = None
