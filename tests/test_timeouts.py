"""Every test has a deadline, and a hung one says where it hangs: every thread's and every asyncio task's stack."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

HUNG_TEST = textwrap.dedent("""
    import asyncio
    import threading


    NEVER = []  # holds the event (and so the task waiting on it): a task nobody references may be collected


    async def parked_on_the_server_loop():
        NEVER.append(asyncio.Event())
        await NEVER[0].wait()


    async def parked_in_the_test():
        await asyncio.sleep(3600)


    async def test_hangs():
        # Like tests/conftest.py's LiveServer: a second loop in a thread of its own, with a task parked on it.
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="server-loop-thread", daemon=True).start()
        asyncio.run_coroutine_threadsafe(parked_on_the_server_loop(), loop)
        await parked_in_the_test()
""")


def test_a_hung_async_test_is_stopped_with_every_thread_and_task_stack(tmp_path: Path) -> None:
    (tmp_path / "test_hung.py").write_text(HUNG_TEST, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.timeouts", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
         "--timeout", "2", "--timeout-method", "signal", "test_hung.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Failed: Timeout (>2.0s)" in output, output
    assert "Timeout: asyncio tasks" in output, output
    # The test's own coroutine, parked on the pytest-asyncio loop in the main thread…
    assert "in parked_in_the_test" in output, output
    # …the coroutine parked on the other loop, and that loop's thread among the thread stacks.
    assert "in parked_on_the_server_loop" in output, output
    assert "server-loop-thread" in output, output


def test_every_test_has_a_default_deadline() -> None:
    """pyproject.toml gives every test of the suite a deadline (slow ones raise theirs with @pytest.mark.timeout)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "tests/test_config.py"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "timeout: 120.0s" in result.stdout and "timeout method: signal" in result.stdout, result.stdout
