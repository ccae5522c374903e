"""Many callers asking for rows by key at the same moment share one query (a burst of widget sockets opening
reads their sessions together instead of one round trip each)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchedReads(Generic[K, V]):
    """`await reads.get(key)`: the row for the key (None if there is none). Keys asked for in one turn of the
    event loop, or while the previous query runs, are read by the next query together. One query at a time:
    an idle loader answers in the next turn of the loop, a busy one in batches that grow with the load."""

    def __init__(self, load_many: Callable[[list[K]], Awaitable[dict[K, V]]], max_batch: int = 500) -> None:
        self._load_many = load_many
        self.max_batch = max_batch
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._running = False
        self._scheduled = False

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if not self._running and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start)  # after everything else this turn of the loop asks for
        return await future

    def _start(self) -> None:
        self._scheduled = False
        if self._running or not self._waiting:
            return
        keys = list(self._waiting)[:self.max_batch]
        batch = {key: self._waiting.pop(key) for key in keys}
        self._running = True
        task = asyncio.ensure_future(self._load(batch))
        task.add_done_callback(self._finished)

    async def _load(self, batch: dict[K, list[asyncio.Future[V | None]]]) -> None:
        try:
            rows = await self._load_many(list(batch))
        except asyncio.CancelledError:
            for futures in batch.values():
                for future in futures:
                    future.cancel()
            raise
        except Exception as exc:
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for key, futures in batch.items():
            for future in futures:
                if not future.done():
                    future.set_result(rows.get(key))

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running = False
        if self._waiting:
            self._start()
