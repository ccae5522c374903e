"""The migrations build exactly the schema models.py describes, on both engines."""

from __future__ import annotations

from typing import Any

import peewee

from core.db import make_sync_database
from models import ALL_MODELS


def _columns(db: peewee.Database, table: str) -> set[str]:
    return {column.name for column in db.get_columns(table)}


def test_migrated_tables_match_the_models(database_url: str) -> None:
    db: Any = make_sync_database(database_url)
    try:
        tables = set(db.get_tables())
        for model in ALL_MODELS:
            table = model._meta.table_name
            assert table in tables, f"{table} has no migration"
            expected = {field.column_name for field in model._meta.sorted_fields}
            assert _columns(db, table) == expected, table
        indexes = {index.name for index in db.get_indexes("support_chats")}
        assert "support_chats_one_open_per_session" in indexes
    finally:
        db.close()
