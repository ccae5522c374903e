"""pytest plugin: when pytest-timeout stops a hung test, also print every asyncio task's stack.

pytest-timeout prints the stack of every thread, but a hung async test is usually a coroutine parked on an
await, and a thread's stack only shows the event loop's select(). The suite runs coroutines on several loops
(pytest-asyncio's in the main thread, the live server's in its own thread), so at the deadline this finds
every event loop alive in the process and prints the stack of each of its unfinished tasks, then lets
pytest-timeout do its own dump and fail the test. Loaded with `-p tests.timeouts` (see pyproject.toml).
"""

from __future__ import annotations

import asyncio
import gc
import io
import signal
import threading
import traceback
from collections.abc import Callable, Generator
from typing import Any

import pytest


def _event_loops() -> list[asyncio.AbstractEventLoop]:
    """Every event loop still open in the process, whichever thread runs it and whoever created it."""
    loops = [obj for obj in gc.get_objects() if isinstance(obj, asyncio.AbstractEventLoop)]
    return [loop for loop in loops if not loop.is_closed()]


def _loop_thread(loop: asyncio.AbstractEventLoop) -> str:
    ident = getattr(loop, "_thread_id", None)  # set by BaseEventLoop while it runs
    if ident is None:
        return "not running"
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    return f"running in thread {names.get(ident, '<unknown>')} ({ident})"


def format_task_stacks() -> str:
    """The stack of every unfinished task of every open event loop, as text."""
    out = io.StringIO()
    for loop in _event_loops():
        try:
            tasks = asyncio.all_tasks(loop)
        except RuntimeError:  # the loop's task set changed under us (another thread): one retry is enough
            tasks = asyncio.all_tasks(loop)
        out.write(f"--- event loop {id(loop):#x}, {_loop_thread(loop)}: {len(tasks)} unfinished task(s)\n")
        for task in sorted(tasks, key=lambda t: t.get_name()):
            out.write(f"Task {task.get_name()!r} (most recent call last):\n")
            out.write("".join(traceback.format_list(_await_chain(task.get_coro()))))
    return out.getvalue()


def _await_chain(coro: Any) -> traceback.StackSummary:
    """The coroutine and everything it awaits, down to where it is parked (Task.print_stack stops at the top)."""
    frames = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is None:
            break
        frames.append((frame, frame.f_lineno))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return traceback.StackSummary.extract(frames)


def _dump(item: pytest.Item) -> None:
    terminal = item.config.get_terminal_writer()
    terminal.sep("+", title="Timeout: asyncio tasks")
    terminal.write(format_task_stacks())
    terminal.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> Generator[None, Any, None]:
    yield  # pytest-timeout arms its own timer (SIGALRM in the main thread, else a timer thread)
    installed = signal.getsignal(signal.SIGALRM) if threading.current_thread() is threading.main_thread() else None
    if settings.method == "signal" and callable(installed):
        def handler(signum: int, frame: Any) -> None:
            __tracebackhide__ = True
            _dump(item)
            installed(signum, frame)  # pytest-timeout: every thread's stack, then fail the test

        signal.signal(signal.SIGALRM, handler)
        return
    # The thread method ends the process at the deadline: print the tasks a moment before it does.
    timer = threading.Timer(max(settings.timeout - 0.2, 0), _dump, (item,))
    timer.daemon = True
    timer.name = f"asyncio task dump {item.nodeid}"
    cancel: Callable[[], None] | None = getattr(item, "cancel_timeout", None)

    def cancel_both() -> None:
        timer.cancel()
        if cancel is not None:
            cancel()

    item.cancel_timeout = cancel_both  # type: ignore[attr-defined]
    timer.start()
