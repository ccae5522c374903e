"""Each manager's Telegram language_code, so messages queued for them speak their language (issue 15)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("managers", language_code=pw.CharField(max_length=16, null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("managers", "language_code")
