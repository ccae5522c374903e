"""Outgoing webhooks for external systems (CRM): a persisted delivery queue."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class IntegrationDelivery(pw.Model):
        id = pw.AutoField()
        url = pw.TextField()
        event = pw.CharField(max_length=64)
        payload = pw.TextField()
        status = pw.CharField(default="pending", max_length=16)
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField()
        last_error = pw.TextField(null=True)
        created_at = pw.DateTimeField()
        sent_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "integration_deliveries"
            indexes = [(("status", "next_attempt_at"), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("integration_deliveries")
