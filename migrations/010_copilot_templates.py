"""The AI co-pilot (a per-manager switch, the replies it suggested) and saved replies (issue 14)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("managers", copilot_enabled=pw.BooleanField(default=True))

    @migrator.create_model
    class CopilotSuggestion(pw.Model):
        id = pw.AutoField()
        support_chat = pw.ForeignKeyField(column_name="support_chat_id", field="id",
                                          model=migrator.orm["support_chats"], on_delete="CASCADE")
        manager = pw.ForeignKeyField(column_name="manager_id", field="id", model=migrator.orm["managers"],
                                     on_delete="CASCADE")
        reply_to = pw.ForeignKeyField(column_name="reply_to_id", field="id", model=migrator.orm["chat_messages"],
                                      null=True, on_delete="SET NULL")
        text = pw.TextField()
        status = pw.CharField(max_length=16, default="pending")
        created_at = pw.DateTimeField()
        decided_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "copilot_suggestions"
            indexes = [(("support_chat", "status"), False)]

    @migrator.create_model
    class ReplyTemplate(pw.Model):
        id = pw.AutoField()
        title = pw.CharField(max_length=64)
        text = pw.TextField()
        created_by = pw.BigIntegerField()
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "reply_templates"


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("reply_templates")
    migrator.remove_model("copilot_suggestions")
    migrator.remove_fields("managers", "copilot_enabled")
