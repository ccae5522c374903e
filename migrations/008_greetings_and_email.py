"""Proactive greetings (rules and who saw them) and the email queue for chat transcripts (issue 15)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class GreetingRule(pw.Model):
        id = pw.AutoField()
        url_pattern = pw.CharField(max_length=500)
        delay_seconds = pw.IntegerField()
        first_visit_only = pw.BooleanField()
        working_hours_only = pw.BooleanField()
        open_on_desktop = pw.BooleanField()
        text = pw.TextField()
        is_active = pw.BooleanField()
        created_by = pw.BigIntegerField(null=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "greeting_rules"

    @migrator.create_model
    class GreetingShow(pw.Model):
        id = pw.AutoField()
        rule = pw.ForeignKeyField(column_name="rule_id", field="id", model=migrator.orm["greeting_rules"],
                                  on_delete="CASCADE")
        visitor = pw.CharField(max_length=64)
        day = pw.CharField(max_length=10)
        shown_at = pw.DateTimeField()
        opened_at = pw.DateTimeField(null=True)
        chatted_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "greeting_shows"
            indexes = [(("rule", "visitor", "day"), True), (("shown_at",), False)]

    @migrator.create_model
    class EmailDelivery(pw.Model):
        id = pw.AutoField()
        recipient = pw.CharField(max_length=320)
        session = pw.ForeignKeyField(column_name="session_id", field="id", model=migrator.orm["visitor_sessions"],
                                     on_delete="CASCADE")
        support_chat = pw.ForeignKeyField(column_name="support_chat_id", field="id",
                                          model=migrator.orm["support_chats"], null=True, on_delete="CASCADE")
        locale = pw.CharField(max_length=8)
        status = pw.CharField(max_length=16)
        attempts = pw.IntegerField()
        next_attempt_at = pw.DateTimeField()
        last_error = pw.TextField(null=True)
        created_at = pw.DateTimeField()
        sent_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "email_deliveries"
            indexes = [(("status", "next_attempt_at"), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("email_deliveries")
    migrator.remove_model("greeting_shows")
    migrator.remove_model("greeting_rules")
