"""run.py as a person runs it: one-line errors for bad configuration, a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run_py(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py", *args], cwd=PROJECT_ROOT, env=_env(env), capture_output=True,
                          text=True, timeout=timeout, check=False)


def _env(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "HTTP_"))}
    return {**base, "TELEGRAM_BOT_TOKEN": "", "LOG_LEVEL": "INFO", **extra}


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    return lines[-1]


@pytest.mark.parametrize(("env", "expected"), [
    ({"DATABASE_URL": "mysql://root@localhost/db"},
     "config error: database.url (env DATABASE_URL): unsupported scheme"),
    ({"DATABASE_URL": "sqlite://relative.db"}, "config error: database.url (env DATABASE_URL): sqlite URLs look like"),
    ({"HTTP_PORT": "eighty"}, "config error: http.port (env HTTP_PORT)"),
    ({"ADMIN_IDS": "12,abc"}, "config error: access.admin_ids (env ADMIN_IDS): 'abc' is not a Telegram ID"),
    ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "config error: telegram.bot_token (env TELEGRAM_BOT_TOKEN)"),
])
def test_bad_configuration_stops_with_one_line(env: dict[str, str], expected: str) -> None:
    result = run_py(env=env)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_secrets_never_reach_the_error_line() -> None:
    result = run_py(env={"TELEGRAM_BOT_TOKEN": "12345:super-secret-value", "TELEGRAM_WEBHOOK_URL": "https://x.example",
                         "TELEGRAM_WEBHOOK_SECRET": "bad secret!"})
    assert result.returncode == 2
    assert "super-secret-value" not in result.stderr and "bad secret!" not in result.stderr
    assert "telegram.webhook_secret" in one_line(result.stderr)


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run_py(env={"DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:9/ilpo"}, timeout=90)
    assert result.returncode != 0
    line = one_line(result.stderr)
    assert "database" in line.lower() and "pw" not in line


def test_unmigrated_database_is_refused_until_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run_py(env={"DATABASE_URL": url})
    assert result.returncode == 3
    assert "unapplied migration" in one_line(result.stderr) and "run.py migrate" in result.stderr
    migrated = run_py("migrate", env={"DATABASE_URL": url})
    assert migrated.returncode == 0, migrated.stderr
    assert "001_initial" in migrated.stderr


def test_help_says_what_it_does() -> None:
    result = run_py("--help", env={})
    assert result.returncode == 0
    assert "migrate" in result.stdout and "check-config" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_healthy(base: str, process: subprocess.Popen[str], timeout: float) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _get(f"{base}/healthz")
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = (process.stderr or process.stdout)
                raise AssertionError(output.read() if output else "did not start") from None
            time.sleep(0.2)


def test_serves_then_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = _env({"DATABASE_URL": f"sqlite:///{tmp_path / 'ilpo.db'}", "HTTP_PORT": str(port)})
    process = subprocess.Popen([sys.executable, "run.py", "--migrate"], cwd=PROJECT_ROOT, env=env,
                               stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        status, body = _wait_healthy(base, process, timeout=60)
        assert status == 200 and b'"sandbox"' in body
        assert _get(f"{base}/")[0] == 200
        assert _get(f"{base}/sandbox")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        stderr = process.stderr.read() if process.stderr else ""
        assert "Stopped cleanly" in stderr and "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_make_run_serves_the_demo_the_sandbox_and_health(tmp_path: Path) -> None:
    """The README's first command, as a newcomer types it (the venv it sets up is the suite's own)."""
    port = _free_port()
    env = _env({"DATABASE_URL": f"sqlite:///{tmp_path / 'ilpo.db'}", "HTTP_PORT": str(port)})
    process = subprocess.Popen(["make", "run"], cwd=PROJECT_ROOT, env=env, stderr=subprocess.STDOUT,
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        status, body = _wait_healthy(base, process, timeout=120)  # the promise: within two minutes
        assert status == 200 and b'"database": "ok"' in body
        home = _get(f"{base}/")
        assert home[0] == 200 and b"/widget.js" in home[1]
        assert _get(f"{base}/sandbox")[0] == 200
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        output = process.stdout.read() if process.stdout else ""
        assert "Stopped cleanly" in output and "Traceback" not in output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
