"""A topic per conversation in a manager's private chat with the bot (Bot API 10.1), and manager edits."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class ChatTopic(pw.Model):
        id = pw.AutoField()
        support_chat = pw.ForeignKeyField(column_name="support_chat_id", field="id",
                                          model=migrator.orm["support_chats"], on_delete="CASCADE")
        manager = pw.ForeignKeyField(column_name="manager_id", field="id", model=migrator.orm["managers"],
                                     on_delete="CASCADE")
        telegram_chat_id = pw.BigIntegerField()
        thread_id = pw.BigIntegerField(null=True)
        state = pw.CharField(max_length=16, default="creating")
        name = pw.CharField(max_length=128)
        card = pw.ForeignKeyField(column_name="card_id", field="id", model=migrator.orm["outbox"], null=True,
                                  on_delete="SET NULL")
        warned_flat = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()
        delete_after = pw.DateTimeField(null=True)

        class Meta:
            table_name = "chat_topics"
            indexes = [(("support_chat", "manager"), True), (("telegram_chat_id", "thread_id"), False),
                       (("state", "delete_after"), False)]

    migrator.add_fields(
        "outbox",
        topic=pw.ForeignKeyField(column_name="topic_id", field="id", model=migrator.orm["chat_topics"], null=True,
                                 on_delete="SET NULL"),
    )
    migrator.add_fields(
        "chat_messages",
        telegram_message_id=pw.BigIntegerField(null=True),
        edited_at=pw.DateTimeField(null=True),
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_fields("chat_messages", "telegram_message_id", "edited_at")
    migrator.remove_fields("outbox", "topic")
    migrator.remove_model("chat_topics")
