"""run.py as a person runs it: one-line errors naming their real cause, a quiet start-up ending with the URLs to
open, a clean exit on SIGTERM.

Each subprocess gets an explicit minimal environment (`clean_env`): a fresh machine has no TELEGRAM_API_SPEC, no
configured HOME, no virtualenv on PATH and no folders beside the repository, so nothing of the developer's shell
may leak into what these tests prove."""

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


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A fresh machine's environment: system PATH, an empty HOME, the sandbox, a database of this test's own."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TELEGRAM_BOT_TOKEN": "",
        "LOG_LEVEL": "INFO",
        "HTTP_HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{home / 'ilpo.db'}",
        "UPLOADS_PATH": str(home / "uploads"),
        **extra,
    }


def package_index_access() -> dict[str, str]:
    """What pip needs to reach the package index here (proxies, mirrors, certificates): `make run` installs."""
    names = ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "ssl_cert_file", "requests_ca_bundle")
    return {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k.lower() in names}


def run_py(*args: str, home: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # Another working directory on purpose: run.py must find its config, spec and migrations by itself.
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run.py"), *args], cwd=home,
                          env=clean_env(home, **env), capture_output=True, text=True, timeout=timeout, check=False)


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
def test_bad_configuration_stops_with_one_line(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    result = run_py(home=tmp_path, env=env)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_secrets_never_reach_the_error_line(tmp_path: Path) -> None:
    result = run_py(home=tmp_path, env={"TELEGRAM_BOT_TOKEN": "12345:super-secret-value", "TELEGRAM_WEBHOOK_URL": "https://x.example",
                         "TELEGRAM_WEBHOOK_SECRET": "bad secret!"})
    assert result.returncode == 2
    assert "super-secret-value" not in result.stderr and "bad secret!" not in result.stderr
    assert "telegram.webhook_secret" in one_line(result.stderr)


@pytest.mark.timeout(200)
@pytest.mark.parametrize("command", [[], ["migrate"]])
def test_unreachable_database_is_one_clear_line(tmp_path: Path, command: list[str]) -> None:
    result = run_py(*command, home=tmp_path, env={"DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:9/ilpo"},
                    timeout=90)
    assert result.returncode == 4
    line = one_line(result.stderr)
    assert "database error: cannot connect" in line and "pw" not in line


def test_a_missing_spec_is_named_not_taken_for_a_database_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "api.json"
    result = run_py("--migrate", home=tmp_path, env={"TELEGRAM_API_SPEC": str(missing)})
    assert result.returncode == 5
    line = one_line(result.stderr)
    assert f"Telegram sandbox error: Bot API spec not found at {missing}" in line, line
    assert "TELEGRAM_API_SPEC points there" in line
    assert "database" not in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # said before touching anything else


def test_a_broken_spec_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "api.json"
    broken.write_text('{"methods": ', encoding="utf-8")
    result = run_py("--migrate", home=tmp_path, env={"TELEGRAM_API_SPEC": str(broken)})
    assert result.returncode == 5
    line = one_line(result.stderr)
    assert f"Telegram sandbox error: Bot API spec at {broken} is unreadable (JSONDecodeError" in line, line


def test_check_config_fails_when_the_sandbox_cannot_start(tmp_path: Path) -> None:
    missing = tmp_path / "api.json"
    result = run_py("check-config", home=tmp_path, env={"TELEGRAM_API_SPEC": str(missing)})
    assert result.returncode == 5
    assert "Telegram sandbox error: Bot API spec not found" in one_line(result.stderr)
    assert "Configuration is valid" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    fine = run_py("check-config", home=tmp_path, env={})
    assert fine.returncode == 0, fine.stderr
    assert "Configuration is valid" in fine.stderr


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_py("--migrate", home=tmp_path, env={"HTTP_PORT": str(port)})
    assert result.returncode == 5
    line = one_line(result.stderr)
    assert f"HTTP server error: cannot listen on 127.0.0.1:{port}" in line, line
    assert "database error" not in result.stderr


def test_unmigrated_database_is_refused_until_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run_py(home=tmp_path, env={"DATABASE_URL": url})
    assert result.returncode == 3
    assert "unapplied migration" in one_line(result.stderr) and "run.py migrate" in result.stderr
    migrated = run_py("migrate", home=tmp_path, env={"DATABASE_URL": url})
    assert migrated.returncode == 0, migrated.stderr
    assert "001_initial" in migrated.stderr


def test_help_says_what_it_does(tmp_path: Path) -> None:
    result = run_py("--help", home=tmp_path, env={})
    assert result.returncode == 0
    assert "migrate" in result.stdout and "check-config" in result.stdout


def assert_quiet_start_ending_with_the_urls(output: str, base: str) -> None:
    """Migrations and scheduled jobs are DEBUG detail; the start-up's last lines are the URLs to open."""
    for chatter in ("peewee_migrate", "apscheduler", "Applied migrations", "Start polling"):
        assert chatter not in output, output
    lines = output.splitlines()
    ready = [i for i, line in enumerate(lines) if "Shutting down" in line]
    start = [line for line in lines[:ready[0]] if "aiohttp.access" not in line and line.strip()]
    assert [line.split("ilpo:", 1)[-1].split()[0] for line in start[-3:]] == [
        f"{base}/", f"{base}/sandbox", f"{base}/healthz"], "\n".join(start)


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
    env = clean_env(tmp_path, HTTP_PORT=str(port))
    process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "run.py"), "--migrate"], cwd=tmp_path, env=env,
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
        assert_quiet_start_ending_with_the_urls(stderr, base)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.timeout(300)  # pip may reinstall the project first (pyproject.toml changed)
def test_make_run_serves_the_demo_the_sandbox_and_health(tmp_path: Path) -> None:
    """The README's first command, as a newcomer types it (the venv it sets up is the suite's own)."""
    port = _free_port()
    env = clean_env(tmp_path, HTTP_PORT=str(port), **package_index_access())
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
        assert_quiet_start_ending_with_the_urls(output, base)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
