"""Outbox pacing: a send priority per row, and how a relay row may be merged with its neighbours."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields(
        "outbox",
        # 0 urgent (offers, accept/close updates, answers to a button), 1 relay, 2 bulk (summaries, exports).
        priority=pw.SmallIntegerField(default=1),
        # JSON {"header", "body", "buttons"} for a text relay that may share one Telegram message with others.
        coalesce=pw.TextField(null=True),
    )
    migrator.add_index("outbox", "status", "chat_id", "priority")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("outbox", "status", "chat_id", "priority")
    migrator.remove_fields("outbox", "priority", "coalesce")
