"""Group chats: colleagues a manager invites into a chat (the seed's 'Групповые чаты с несколькими менеджерами')."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class ChatParticipant(pw.Model):
        id = pw.AutoField()
        support_chat = pw.ForeignKeyField(column_name="support_chat_id", field="id",
                                          model=migrator.orm["support_chats"], on_delete="CASCADE")
        manager = pw.ForeignKeyField(column_name="manager_id", field="id", model=migrator.orm["managers"],
                                     on_delete="CASCADE")
        joined_at = pw.DateTimeField()

        class Meta:
            table_name = "chat_participants"
            indexes = [(("support_chat", "manager"), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("chat_participants")
