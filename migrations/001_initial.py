"""Peewee migrations -- 001_initial.py.

Some examples (model - class or model name)::

    > Model = migrator.orm['table_name']            # Return model in current state by name
    > Model = migrator.ModelClass                   # Return model in current state by name

    > migrator.sql(sql)                             # Run custom SQL
    > migrator.run(func, *args, **kwargs)           # Run python function with the given args
    > migrator.create_model(Model)                  # Create a model (could be used as decorator)
    > migrator.remove_model(model, cascade=True)    # Remove a model
    > migrator.add_fields(model, **fields)          # Add fields to a model
    > migrator.change_fields(model, **fields)       # Change fields
    > migrator.remove_fields(model, *field_names, cascade=True)
    > migrator.rename_field(model, old_field_name, new_field_name)
    > migrator.rename_table(model, new_table_name)
    > migrator.add_index(model, *col_names, unique=False)
    > migrator.add_not_null(model, *field_names)
    > migrator.add_default(model, field_name, default)
    > migrator.add_constraint(model, name, sql)
    > migrator.drop_index(model, *col_names)
    > migrator.drop_not_null(model, *field_names)
    > migrator.drop_constraints(model, *constraints)

"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""
    
    @migrator.create_model
    class AuditLog(pw.Model):
        id = pw.AutoField()
        actor_telegram_id = pw.BigIntegerField()
        action = pw.CharField(max_length=64)
        target = pw.CharField(default='', max_length=255)
        details = pw.TextField(default='')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "audit_log"

    @migrator.create_model
    class VisitorSession(pw.Model):
        id = pw.AutoField()
        session_id = pw.CharField(max_length=64, unique=True)
        token_hash = pw.CharField(max_length=64)
        page_url = pw.TextField(null=True)
        locale = pw.CharField(default='ru', max_length=8)
        name = pw.CharField(max_length=100, null=True)
        phone = pw.CharField(max_length=32, null=True)
        created_at = pw.DateTimeField()
        last_seen_at = pw.DateTimeField()

        class Meta:
            table_name = "visitor_sessions"

    @migrator.create_model
    class Manager(pw.Model):
        id = pw.AutoField()
        telegram_id = pw.BigIntegerField(unique=True)
        name = pw.CharField(default='', max_length=255)
        username = pw.CharField(max_length=64, null=True)
        is_active = pw.BooleanField(default=True)
        is_admin = pw.BooleanField(default=False)
        is_online = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()
        online_since = pw.DateTimeField(null=True)
        last_assigned_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "managers"
            indexes = [(('is_online', 'is_active'), False)]

    @migrator.create_model
    class SupportChat(pw.Model):
        id = pw.AutoField()
        session = pw.ForeignKeyField(column_name='session_id', field='id', model=migrator.orm['visitor_sessions'], on_delete='CASCADE')
        manager = pw.ForeignKeyField(column_name='manager_id', field='id', model=migrator.orm['managers'], null=True, on_delete='SET NULL')
        status = pw.CharField(default='waiting', max_length=16)
        client_name = pw.CharField(max_length=100, null=True)
        client_phone = pw.CharField(max_length=32, null=True)
        page_url = pw.TextField(null=True)
        created_at = pw.DateTimeField()
        assigned_at = pw.DateTimeField(null=True)
        first_response_at = pw.DateTimeField(null=True)
        last_activity_at = pw.DateTimeField()
        closed_at = pw.DateTimeField(null=True)
        close_reason = pw.CharField(max_length=16, null=True)

        class Meta:
            table_name = "support_chats"
            indexes = [(('status', 'created_at'), False), (('manager', 'status'), False), (('session', 'status'), False)]

    @migrator.create_model
    class ChatMessage(pw.Model):
        id = pw.AutoField()
        session = pw.ForeignKeyField(column_name='session_id', field='id', model=migrator.orm['visitor_sessions'], on_delete='CASCADE')
        support_chat = pw.ForeignKeyField(column_name='support_chat_id', field='id', model=migrator.orm['support_chats'], null=True, on_delete='SET NULL')
        sender = pw.CharField(max_length=16)
        manager = pw.ForeignKeyField(column_name='manager_id', field='id', model=migrator.orm['managers'], null=True, on_delete='SET NULL')
        author_name = pw.CharField(max_length=255, null=True)
        text = pw.TextField()
        client_message_id = pw.CharField(max_length=64, null=True)
        meta = pw.TextField(null=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "chat_messages"
            indexes = [(('session', 'id'), False), (('support_chat', 'id'), False), (('session', 'client_message_id'), True)]

    @migrator.create_model
    class FsmState(pw.Model):
        key = pw.CharField(max_length=255, primary_key=True)
        state = pw.CharField(max_length=255, null=True)
        data = pw.TextField(default='{}')

        class Meta:
            table_name = "fsm_states"

    @migrator.create_model
    class Outbox(pw.Model):
        id = pw.AutoField()
        chat_id = pw.BigIntegerField()
        method = pw.CharField(max_length=64)
        payload = pw.TextField()
        purpose = pw.CharField(default='notice', max_length=32)
        support_chat = pw.ForeignKeyField(column_name='support_chat_id', field='id', model=migrator.orm['support_chats'], null=True, on_delete='SET NULL')
        edits = pw.ForeignKeyField(column_name='edits_id', field='id', model='self', null=True, on_delete='SET NULL')
        status = pw.CharField(default='pending', max_length=16)
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField()
        last_error = pw.TextField(null=True)
        telegram_message_id = pw.BigIntegerField(null=True)
        created_at = pw.DateTimeField()
        sent_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "outbox"
            indexes = [(('status', 'next_attempt_at'), False), (('chat_id', 'telegram_message_id'), False), (('support_chat', 'purpose'), False)]

    @migrator.create_model
    class ProcessedUpdate(pw.Model):
        update_id = pw.BigIntegerField(primary_key=True)
        processed_at = pw.DateTimeField()

        class Meta:
            table_name = "processed_updates"

    # Calling transfer-to-manager twice must never open a second chat, even under a race: the database
    # itself allows one open support chat per visitor session.
    migrator.sql(
        "CREATE UNIQUE INDEX support_chats_one_open_per_session ON support_chats (session_id) "
        "WHERE status <> 'closed'"
    )


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.sql("DROP INDEX IF EXISTS support_chats_one_open_per_session")

    migrator.remove_model('processed_updates')

    migrator.remove_model('outbox')

    migrator.remove_model('fsm_states')

    migrator.remove_model('chat_messages')

    migrator.remove_model('support_chats')

    migrator.remove_model('managers')

    migrator.remove_model('visitor_sessions')

    migrator.remove_model('audit_log')
