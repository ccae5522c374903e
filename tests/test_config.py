"""Configuration: config.toml, environment overrides, validation naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from core.db import parse_database_url

CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


def test_defaults_run_with_zero_setup() -> None:
    settings = load_settings(CONFIG, {})
    assert settings.database.url == "sqlite:///data/ilpo.db"
    assert settings.telegram.sandbox is True
    assert settings.ai.backend == "knowledge"


def test_environment_overrides_the_file() -> None:
    settings = load_settings(CONFIG, {
        "ADMIN_IDS": "123456789, 987654321", "MANAGER_IDS": "111111111,222222222",
        "DATABASE_URL": "postgresql+asyncpg://user:pass@db.internal:6543/ilpo", "HTTP_PORT": "9000",
        "TELEGRAM_BOT_TOKEN": "123:abc", "IDLE_CLOSE_SECONDS": "600",
    })
    assert settings.access.admin_ids == (123456789, 987654321)
    assert settings.access.manager_ids == (111111111, 222222222)
    assert settings.http.port == 9000
    assert settings.telegram.sandbox is False
    assert settings.support.idle_close_seconds == 600
    parsed = parse_database_url(settings.database.url)
    assert (parsed.engine, parsed.host, parsed.port, parsed.database, parsed.user) == (
        "postgresql", "db.internal", 6543, "ilpo", "user")
    assert "pass" not in parsed.safe


def test_secrets_are_not_in_repr() -> None:
    settings = load_settings(CONFIG, {"TELEGRAM_BOT_TOKEN": "123:very-secret", "AI_API_KEY": "sk-hidden"})
    assert "very-secret" not in repr(settings) and "sk-hidden" not in repr(settings)


@pytest.mark.parametrize(("env", "key"), [
    ({"HTTP_PORT": "70000"}, "http.port"),
    ({"DATABASE_URL": "postgresql://host"}, "database.url"),
    ({"PUBLIC_URL": "ftp://x"}, "http.public_url"),
    ({"LOG_LEVEL": "LOUD"}, "logging.level"),
    ({"AI_BACKEND": "magic"}, "ai.backend"),
    ({"IDLE_CLOSE_SECONDS": "-1"}, "support.idle_close_seconds"),
])
def test_a_wrong_value_names_its_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(CONFIG, env)
    assert str(error.value).startswith(f"config error: {key}")
    assert "\n" not in str(error.value)


def test_unknown_key_in_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[support]\nmax_active_chat = 3\n')
    with pytest.raises(ConfigError, match=r"support.max_active_chat"):
        load_settings(path, {})


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[support\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, {})
