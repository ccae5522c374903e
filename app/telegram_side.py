"""The Telegram side of the product (aiogram and bot/), loaded once the web server is serving.

Importing aiogram builds ~630 pydantic models of the Bot API: most of a cold start. The product serves the widget,
its API and /healthz first, then imports the Telegram side in a worker thread while the event loop keeps serving
(aiogram itself through bot.lazy_models, which leaves each model to be completed when first used).
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Callable
from typing import Any

# The modules of the Telegram side that app.product uses; each of them imports aiogram.
# The scheduled jobs start with it, so their scheduler is imported here as well.
MODULES = ("aiogram", "bot.assembly", "bot.copilot", "bot.i18n", "bot.pacing", "bot.polling", "bot.render",
           "bot.topic_render", "webhook.telegram", "apscheduler.schedulers.asyncio", "support.jobs")

_loading = threading.Lock()


def load() -> None:
    """Imports the Telegram side; a caller that comes while another thread imports it waits for that import."""
    with _loading:
        from bot.lazy_models import import_aiogram, warm

        import_aiogram()  # its pydantic models completed on first use: a fifth of the import
        for name in MODULES:
            importlib.import_module(name)
        warm()


async def load_in_background() -> None:
    """The import in a worker thread: the event loop answers requests meanwhile (more slowly, as the import
    holds the interpreter in slices)."""
    await asyncio.to_thread(load)


class Deferred:
    """Stands for an object of the Telegram side (a channel that renders messages for managers) until the product
    builds it. Used before then (a visitor asks for a manager while aiogram is still loading) it waits for the
    import and builds the object at once: what it renders goes to the outbox, which sends it once the bot is up."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._target: Any = None

    def resolve(self) -> Any:
        if self._target is None:
            load()
            self._target = self._build()
        return self._target

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resolve(), name)
