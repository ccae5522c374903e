"""Configuration: config.toml, overridden by environment variables, validated once at start."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.paths import PROJECT_ROOT, from_project

DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config.toml"
TELEGRAM_DEFAULT_API = "https://api.telegram.org"


class ConfigError(Exception):
    """A configuration value is wrong; the message names the key and is fit to print as one line."""


class StartupError(Exception):
    """The product cannot start for a reason that is not a bug: `str()` is one line naming the part and the cause."""

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"{part} error: {reason}")
        self.part = part


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramSettings(_Section):
    bot_token: str = Field(default="", repr=False)
    api_base: str = TELEGRAM_DEFAULT_API
    webhook_url: str = ""
    webhook_secret: str = Field(default="", repr=False)
    webhook_path: str = "/telegram/webhook"
    # A closed chat's topic (Bot API 10.1 private-chat topics) is deleted this many days later; 0 = kept.
    topic_delete_after_days: int = Field(default=0, ge=0)
    # The sandbox bot runs with topics in private chats (getMe's has_topics_enabled) to try topic mode.
    sandbox_topics: bool = False
    # The outbox keeps under Telegram's flood limits itself (1/s per chat with bursts of 3, 20/min per group,
    # this many sends a second for the whole bot; Telegram refuses above about 30).
    pace_sends: bool = True
    max_sends_per_second: float = Field(default=25.0, gt=0, le=30)

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
    sessions_per_minute: int = Field(default=30, ge=1)
    connections_per_session: int = Field(default=5, ge=1)
    connections_per_address: int = Field(default=50, ge=1)
    trusted_proxies: tuple[str, ...] = ()
    link_secret: str = ""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for entry in value or ():
            try:
                ipaddress.ip_network(str(entry), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
        return value

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
    visitor_session_idle_days: int = Field(default=30, ge=1)
    accept_timeout_seconds: int = Field(default=120, ge=1)
    missed_offers_before_offline: int = Field(default=3, ge=1)
    idle_close_seconds: int = Field(default=1800, ge=2)
    idle_warning_seconds: int = Field(default=300, ge=1)
    reminder_seconds: int = Field(default=300, ge=1)
    jobs_interval_seconds: float = Field(default=15, gt=0, le=3600)
    ai_while_waiting: bool = False
    working_hours: str = "00:00-24:00"
    working_days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    timezone: str = "Europe/Moscow"
    daily_summary_time: str = "21:00"
    max_message_length: int = Field(default=4000, ge=1, le=20000)
    messages_per_minute: int = Field(default=30, ge=1)
    # The AI co-pilot for managers: a short brief on accept and a suggested reply per visitor message.
    copilot: bool = True

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_working_hours(value)
        return value

    @field_validator("daily_summary_time")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_clock(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Moscow)") from None
        return value

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(day not in range(1, 8) for day in value):
            raise ValueError("days are numbers 1 (Monday) to 7 (Sunday)")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hours(self) -> tuple[dt.time, dt.time | None]:
        return parse_working_hours(self.working_hours)


def parse_clock(value: str) -> dt.time:
    try:
        hours, minutes = value.strip().split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day (HH:MM)") from None


def parse_working_hours(value: str) -> tuple[dt.time, dt.time | None]:
    """'09:00-21:00' -> (09:00, 21:00); an end of 24:00 means midnight (None)."""
    try:
        start, end = value.split("-")
    except ValueError:
        raise ValueError(f"{value!r} is not a range like 09:00-21:00") from None
    end = end.strip()
    return parse_clock(start), None if end in ("24:00", "00:00") else parse_clock(end)


# Share of the question's informative words that the best entry must explain (ai.KnowledgeIndex.search).
# Picked on bench/data/ai_questions.tsv and the tests' paraphrases. The window is narrow: at 0.45 real
# questions with a filler word the base does not know start failing ("надо ли покупать ОСАГО самому"
# scores 0.44), at 0.35 off-topic ones sharing one domain word pass ("сколько стоит билет в кино", 0.36).
DEFAULT_THRESHOLD = 0.4


class AISettings(_Section):
    """[ai]: the one description of the AI consultant's settings; ai.build_consultant takes it as it is."""

    backend: Literal["knowledge", "openai"] = "knowledge"
    knowledge_path: Path = Path("knowledge")
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0, le=1)
    base_url: str = ""  # backend "openai": config.toml names a local Ollama by default
    model: str = ""
    api_key: str = Field(default="", repr=False)  # from env AI_API_KEY only
    timeout_seconds: float = Field(default=20, gt=0)
    auto_handoff: bool = False

    @field_validator("knowledge_path")
    @classmethod
    def _from_project(cls, value: Path) -> Path:
        return from_project(value)


class IntegrationSettings(_Section):
    """External systems: a read API for chats, and webhooks that push chat events to a CRM."""

    api_keys: tuple[str, ...] = Field(default=(), repr=False)
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = Field(default="", repr=False)

    @field_validator("api_keys", "webhook_urls", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(key) < 16 for key in value):
            raise ValueError("API keys must be at least 16 characters")
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value


class IdentitySettings(_Section):
    """Verified visitors: the site signs its user's id with this secret (HMAC-SHA256) on its own server."""

    secret: str = Field(default="", repr=False)
    required: bool = False  # unverified visitors may not claim an id at all

    @model_validator(mode="after")
    def _required_needs_secret(self) -> IdentitySettings:
        if self.required and not self.secret:
            raise ValueError("secret: required when required = true")
        if self.secret and len(self.secret) < 16:
            raise ValueError("secret: at least 16 characters")
        return self


class StorageSettings(_Section):
    # Where chat attachments are kept (relative paths are inside the project). env: UPLOADS_PATH
    uploads_path: Path = Path("data/uploads")
    max_upload_mb: int = Field(default=10, ge=1, le=50)  # Telegram bots may send up to 50 MB


class EmailSettings(_Section):
    """SMTP for conversation transcripts; without a host, nothing offers or sends email."""

    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str = ""
    password: str = Field(default="", repr=False)
    sender: str = Field(default="", alias="from")
    # Addresses (the admins') that get every closed chat's transcript.
    transcripts_to: tuple[str, ...] = ()
    timeout_seconds: float = Field(default=20, gt=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("transcripts_to", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _sender(self) -> EmailSettings:
        if self.host and "@" not in self.sender:
            raise ValueError("from: an address is required when host is set")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.host)


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
    ai: AISettings = AISettings()
    integrations: IntegrationSettings = IntegrationSettings()
    identity: IdentitySettings = IdentitySettings()
    storage: StorageSettings = StorageSettings()
    email: EmailSettings = EmailSettings()
    logging: LoggingSettings = LoggingSettings()


# env name -> (section, key). Only these are read, so a stray variable never changes behaviour.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "TELEGRAM_BOT_TOKEN": ("telegram", "bot_token"),
    "TELEGRAM_API_BASE": ("telegram", "api_base"),
    "TELEGRAM_WEBHOOK_URL": ("telegram", "webhook_url"),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "TOPIC_DELETE_AFTER_DAYS": ("telegram", "topic_delete_after_days"),
    "SANDBOX_TOPICS": ("telegram", "sandbox_topics"),
    "TELEGRAM_PACE_SENDS": ("telegram", "pace_sends"),
    "TELEGRAM_MAX_SENDS_PER_SECOND": ("telegram", "max_sends_per_second"),
    "ADMIN_IDS": ("access", "admin_ids"),
    "MANAGER_IDS": ("access", "manager_ids"),
    "DATABASE_URL": ("database", "url"),
    "HTTP_HOST": ("http", "host"),
    "HTTP_PORT": ("http", "port"),
    "PUBLIC_URL": ("http", "public_url"),
    "TRUSTED_PROXIES": ("http", "trusted_proxies"),
    "LINK_SECRET": ("http", "link_secret"),
    "CONNECTIONS_PER_SESSION": ("http", "connections_per_session"),
    "CONNECTIONS_PER_ADDRESS": ("http", "connections_per_address"),
    "IDLE_CLOSE_SECONDS": ("support", "idle_close_seconds"),
    "ACCEPT_TIMEOUT_SECONDS": ("support", "accept_timeout_seconds"),
    "REMINDER_SECONDS": ("support", "reminder_seconds"),
    "JOBS_INTERVAL_SECONDS": ("support", "jobs_interval_seconds"),
    "WORKING_HOURS": ("support", "working_hours"),
    "SUPPORT_TIMEZONE": ("support", "timezone"),
    "SUPPORT_COPILOT": ("support", "copilot"),
    "AI_BACKEND": ("ai", "backend"),
    "AI_KNOWLEDGE_PATH": ("ai", "knowledge_path"),
    "AI_API_KEY": ("ai", "api_key"),
    "AI_BASE_URL": ("ai", "base_url"),
    "AI_MODEL": ("ai", "model"),
    "AI_AUTO_HANDOFF": ("ai", "auto_handoff"),
    "INTEGRATION_API_KEYS": ("integrations", "api_keys"),
    "INTEGRATION_WEBHOOK_URLS": ("integrations", "webhook_urls"),
    "INTEGRATION_WEBHOOK_SECRET": ("integrations", "webhook_secret"),
    "IDENTITY_SECRET": ("identity", "secret"),
    "IDENTITY_REQUIRED": ("identity", "required"),
    "UPLOADS_PATH": ("storage", "uploads_path"),
    "SMTP_HOST": ("email", "host"),
    "SMTP_PORT": ("email", "port"),
    "SMTP_SECURITY": ("email", "security"),
    "SMTP_USER": ("email", "user"),
    "SMTP_PASSWORD": ("email", "password"),
    "SMTP_FROM": ("email", "from"),
    "EMAIL_TRANSCRIPTS_TO": ("email", "transcripts_to"),
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


# The aiohttp application carries the settings under this key.
SETTINGS = web.AppKey("settings", Settings)
