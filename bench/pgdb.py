"""Throwaway PostgreSQL databases for the bench scripts: created migrated beside the admin database, dropped by
the script that made them. psycopg2 and core.db are imported when called, so a SQLite-only run or `--help`
needs neither a PostgreSQL server nor its driver loaded."""

from __future__ import annotations

from typing import Any


def _admin_connection(admin_url: str) -> Any:
    import psycopg2

    from core.db import parse_database_url

    admin = parse_database_url(admin_url)
    connection = psycopg2.connect(dbname=admin.database, user=admin.user, password=admin.password,
                                  host=admin.host, port=admin.port)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return connection


def create_database(admin_url: str) -> str:
    """A new, migrated database on the admin URL's server: its URL."""
    import uuid

    from core.db import parse_database_url
    from core.migrations import apply_migrations

    name = f"ilpo_bench_{uuid.uuid4().hex[:8]}"
    connection = _admin_connection(admin_url)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    admin = parse_database_url(admin_url)
    auth = (admin.user or "") + (f":{admin.password}" if admin.password else "")
    url = f"postgresql://{auth}@{admin.host}:{admin.port}/{name}"
    apply_migrations(url)
    return url


def drop_databases(admin_url: str, urls: list[str]) -> None:
    """Drops the databases create_database made, even while a killed process still holds connections."""
    from core.db import parse_database_url

    connection = _admin_connection(admin_url)
    with connection.cursor() as cursor:
        for url in urls:
            cursor.execute(f'DROP DATABASE IF EXISTS "{parse_database_url(url).database}" WITH (FORCE)')
    connection.close()
