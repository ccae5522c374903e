"""Files in chats (photos, documents): their records; the bytes are stored on disk by hash."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class Attachment(pw.Model):
        id = pw.AutoField()
        session = pw.ForeignKeyField(column_name="session_id", field="id", model=migrator.orm["visitor_sessions"],
                                     on_delete="CASCADE")
        filename = pw.CharField(max_length=255)
        content_type = pw.CharField(max_length=100)
        size = pw.IntegerField()
        sha256 = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "attachments"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("attachments")
