"""No Telegram update lost or doubled across processes and restarts (issue 13).

processed_updates becomes a claim with a lease: `claimed_by`/`claimed_at` while a process handles an update
(the holder renews `claimed_at`), `processed_at` once the handler finished. A manager's message is stored once
per Telegram message (or per button press): a redelivered update finds its row instead of adding another.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields(
        "processed_updates",
        claimed_by=pw.CharField(max_length=64, null=True),
        claimed_at=pw.DateTimeField(null=True),
    )
    migrator.drop_not_null("processed_updates", "processed_at")
    migrator.add_fields("chat_messages", telegram_callback_id=pw.CharField(max_length=64, null=True, unique=True))
    # Rows written before this migration were never doubled by a redelivery, but the index must not fail on
    # any that were: the later copy keeps its text and loses only the Telegram identity.
    migrator.sql(
        "UPDATE chat_messages SET telegram_message_id = NULL WHERE telegram_message_id IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM chat_messages AS earlier WHERE earlier.manager_id = chat_messages.manager_id "
        "AND earlier.telegram_message_id = chat_messages.telegram_message_id AND earlier.id < chat_messages.id)"
    )
    migrator.add_index("chat_messages", "manager", "telegram_message_id", unique=True)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.drop_index("chat_messages", "manager", "telegram_message_id")
    migrator.remove_fields("chat_messages", "telegram_callback_id")
    migrator.sql("DELETE FROM processed_updates WHERE processed_at IS NULL")
    migrator.add_not_null("processed_updates", "processed_at")
    migrator.remove_fields("processed_updates", "claimed_by", "claimed_at")
