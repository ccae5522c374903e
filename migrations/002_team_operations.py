"""Fields for running the team: the AI summary, ratings, idle/SLA bookkeeping, missed offers."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields(
        "support_chats",
        summary=pw.TextField(null=True),
        rating=pw.SmallIntegerField(null=True),
        rating_comment=pw.TextField(null=True),
        offered_at=pw.DateTimeField(null=True),
        broadcast_at=pw.DateTimeField(null=True),
        idle_warned_at=pw.DateTimeField(null=True),
        reminded_at=pw.DateTimeField(null=True),
        admins_reminded_at=pw.DateTimeField(null=True),
        transfer_note=pw.TextField(null=True),
        queue_position=pw.IntegerField(null=True),
        offered_manager=pw.ForeignKeyField(
            column_name="offered_manager_id", field="id", model=migrator.orm["managers"], null=True,
            on_delete="SET NULL",
        ),
    )
    migrator.add_fields("managers", missed_offers=pw.IntegerField(default=0))
    migrator.add_index("support_chats", "status", "last_activity_at")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("support_chats", "status", "last_activity_at")
    migrator.remove_fields("managers", "missed_offers")
    migrator.remove_fields(
        "support_chats", "summary", "rating", "rating_comment", "offered_at", "broadcast_at", "idle_warned_at",
        "reminded_at", "admins_reminded_at", "transfer_note",
        "queue_position", "offered_manager",
    )
