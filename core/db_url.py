"""DATABASE_URL: what it names (engine, file or server, credentials) and the reasons one is refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from core.paths import PROJECT_ROOT

Engine = Literal["sqlite", "postgresql"]
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+aiopg", "postgresql+psycopg2")


@dataclass(frozen=True)
class DatabaseURL:
    engine: Engine
    database: str
    user: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None

    @property
    def safe(self) -> str:
        """The URL without its password, fit for logs."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.database}"
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.database}"


def parse_database_url(url: str) -> DatabaseURL:
    """Parse DATABASE_URL; raise ValueError with a reason a person can act on."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw_path = url.split("://", 1)[1]
        if not raw_path.startswith("/"):
            raise ValueError("sqlite URLs look like sqlite:///relative/path.db or sqlite:////absolute/path.db")
        path = raw_path[1:]
        if not path:
            raise ValueError("sqlite URL has no file path")
        if path == ":memory:":
            raise ValueError("in-memory SQLite is not supported: every connection would see its own database")
        resolved = Path(path) if Path(path).is_absolute() else PROJECT_ROOT / path
        return DatabaseURL(engine="sqlite", database=str(resolved))
    if parts.scheme in POSTGRES_SCHEMES:
        name = parts.path.lstrip("/")
        if not name:
            raise ValueError("PostgreSQL URL has no database name (postgresql://user:pass@host:5432/db)")
        try:
            port = parts.port or 5432
        except ValueError:
            raise ValueError("PostgreSQL URL has an invalid port") from None
        return DatabaseURL(
            engine="postgresql",
            database=unquote(name),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or "127.0.0.1",
            port=port,
        )
    raise ValueError(
        f"unsupported scheme {parts.scheme or '(none)'!r}: use sqlite:///path.db or postgresql://user:pass@host/db"
    )
