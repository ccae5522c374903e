"""Details messages that show «✅ Принять чат» for a waiting chat, so the button goes once the chat is taken
(issue 9)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class AcceptButton(pw.Model):
        id = pw.AutoField()
        support_chat = pw.ForeignKeyField(column_name="support_chat_id", field="id",
                                          model=migrator.orm["support_chats"], on_delete="CASCADE")
        telegram_chat_id = pw.BigIntegerField()
        message_id = pw.BigIntegerField()
        page = pw.IntegerField(default=0)
        pages = pw.IntegerField(default=1)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "accept_buttons"
            indexes = [(("telegram_chat_id", "message_id"), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("accept_buttons")
