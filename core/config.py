"""Configuration: config.toml, overridden by environment variables, validated once at start."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config.toml"
TELEGRAM_DEFAULT_API = "https://api.telegram.org"


class ConfigError(Exception):
    """A configuration value is wrong; the message names the key and is fit to print as one line."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramSettings(_Section):
    bot_token: str = Field(default="", repr=False)
    api_base: str = TELEGRAM_DEFAULT_API
    webhook_url: str = ""
    webhook_secret: str = Field(default="", repr=False)
    webhook_path: str = "/telegram/webhook"

    @field_validator("api_base", "webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        # Telegram tokens look like "123456:ABC-DEF..."; catching a pasted chat ID or a quote early
        # beats a 401 from Telegram after start-up.
        if value and (":" not in value or not value.split(":", 1)[0].isdigit()):
            raise ValueError("does not look like a bot token (expected '<digits>:<secret>')")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramSettings:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("webhook_secret: required when webhook_url is set")
        if self.webhook_secret and not all(c.isalnum() or c in "_-" for c in self.webhook_secret):
            raise ValueError("webhook_secret: only A-Z, a-z, 0-9, _ and - are allowed by Telegram")
        return self

    @property
    def sandbox(self) -> bool:
        return not self.bot_token


class AccessSettings(_Section):
    admin_ids: tuple[int, ...] = ()
    manager_ids: tuple[int, ...] = ()

    @field_validator("admin_ids", "manager_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            for part in parts:
                if not part.lstrip("-").isdigit():
                    raise ValueError(f"{part!r} is not a Telegram ID (comma-separated integers expected)")
            return tuple(int(part) for part in parts)
        return value


class DatabaseSettings(_Section):
    url: str = "sqlite:///data/ilpo.db"
    pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from core.db import parse_database_url

        parse_database_url(value)  # raises ValueError with a readable reason
        return value


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    cors_origins: tuple[str, ...] = ("*",)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


class SupportSettings(_Section):
    max_active_chats: int = Field(default=5, ge=1, le=100)
    idle_close_seconds: int = Field(default=1800, ge=5)
    max_message_length: int = Field(default=4000, ge=1, le=20000)
    messages_per_minute: int = Field(default=30, ge=1)


class AISection(_Section):
    backend: Literal["knowledge", "openai"] = "knowledge"
    knowledge_path: Path = Path("knowledge")
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "llama3.1"
    api_key: str = Field(default="", repr=False)
    timeout_seconds: float = Field(default=20, gt=0)
    auto_handoff: bool = False
    threshold: float | None = None


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(_Section):
    telegram: TelegramSettings = TelegramSettings()
    access: AccessSettings = AccessSettings()
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    support: SupportSettings = SupportSettings()
    ai: AISection = AISection()
    logging: LoggingSettings = LoggingSettings()


# env name -> (section, key). Only these are read, so a stray variable never changes behaviour.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "TELEGRAM_BOT_TOKEN": ("telegram", "bot_token"),
    "TELEGRAM_API_BASE": ("telegram", "api_base"),
    "TELEGRAM_WEBHOOK_URL": ("telegram", "webhook_url"),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "ADMIN_IDS": ("access", "admin_ids"),
    "MANAGER_IDS": ("access", "manager_ids"),
    "DATABASE_URL": ("database", "url"),
    "HTTP_HOST": ("http", "host"),
    "HTTP_PORT": ("http", "port"),
    "PUBLIC_URL": ("http", "public_url"),
    "IDLE_CLOSE_SECONDS": ("support", "idle_close_seconds"),
    "AI_BACKEND": ("ai", "backend"),
    "AI_KNOWLEDGE_PATH": ("ai", "knowledge_path"),
    "AI_API_KEY": ("ai", "api_key"),
    "AI_BASE_URL": ("ai", "base_url"),
    "AI_MODEL": ("ai", "model"),
    "AI_AUTO_HANDOFF": ("ai", "auto_handoff"),
    "LOG_LEVEL": ("logging", "level"),
}


def _describe(error: dict[str, Any], env_for_key: Mapping[tuple[str, ...], str]) -> str:
    location = tuple(str(part) for part in error["loc"])
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    # A model-level validator names its own key in the message ("webhook_secret: ...").
    if ": " in message and len(location) == 1:
        key, message = message.split(": ", 1)
        location = (*location, key)
    key = ".".join(location[:2])
    env_name = env_for_key.get(location[:2])
    source = f" (env {env_name})" if env_name else ""
    return f"config error: {key}{source}: {message}"


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read config.toml, apply environment overrides, validate; raise ConfigError naming the bad key."""
    path = path or Path(os.environ.get("ILPO_CONFIG", DEFAULT_CONFIG_PATH))
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config error: {path}: not valid TOML ({exc})") from None
    used_env: dict[tuple[str, ...], str] = {}
    for env_name, (section, key) in ENV_OVERRIDES.items():
        value = environ.get(env_name)
        if value is None or (value == "" and key not in ("bot_token",)):
            continue
        raw.setdefault(section, {})[key] = value
        used_env[(section, key)] = env_name
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], used_env)) from None
