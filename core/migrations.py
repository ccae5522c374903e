"""Applying and checking schema migrations (peewee-migrate, on a short-lived synchronous connection)."""

from __future__ import annotations

import logging
from pathlib import Path

from peewee_migrate import Router

from core.db import make_sync_database
from core.paths import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
log = logging.getLogger(__name__)


class UnmigratedDatabaseError(Exception):
    pass


def _router(url: str, migrations_dir: Path = MIGRATIONS_DIR) -> Router:
    db = make_sync_database(url)
    # peewee-migrate logs every step at INFO through its own logger; ours says what matters.
    quiet = logging.getLogger("peewee_migrate.quiet")
    quiet.setLevel(logging.WARNING)
    return Router(db, migrate_dir=migrations_dir, logger=quiet)


def pending_migrations(url: str) -> list[str]:
    router = _router(url)
    try:
        return list(router.diff)
    finally:
        router.database.close()


def apply_migrations(url: str) -> list[str]:
    """Apply what is pending; return the names applied."""
    router = _router(url)
    try:
        todo = list(router.diff)
        if todo:
            router.run()
            log.debug("Applied migrations: %s", ", ".join(todo))  # run.py migrate says it; serving need not
        return todo
    finally:
        router.database.close()


def ensure_migrated(url: str) -> None:
    todo = pending_migrations(url)
    if todo:
        raise UnmigratedDatabaseError(
            f"database has {len(todo)} unapplied migration(s) ({', '.join(todo)}): run `python run.py migrate`"
            " or start with --migrate"
        )
