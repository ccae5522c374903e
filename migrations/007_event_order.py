"""Widget event ids in commit order on PostgreSQL.

A message's id is its widget event id and readers resume "after the last id seen". With concurrent writers
(several processes, or one process's concurrent transactions) an id taken by a transaction that commits later
than a higher id would be skipped for good. The trigger takes a per-session transaction lock and only then
draws the id, so within a session ids are drawn and committed in the same order. SQLite has one writer at a
time and needs nothing.
"""

import peewee as pw
from peewee_migrate import Migrator

# Advisory-lock namespace for "a session's event ids" (support/coordination.py uses 0x11F0 for roles).
EVENT_ORDER_NAMESPACE = 0x11F1


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    if not isinstance(database, pw.PostgresqlDatabase):
        return
    migrator.sql(f"""
        CREATE FUNCTION chat_messages_ordered_id() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({EVENT_ORDER_NAMESPACE}, NEW.session_id);
            NEW.id := nextval(pg_get_serial_sequence('chat_messages', 'id'));
            RETURN NEW;
        END $$
    """)
    migrator.sql("""
        CREATE TRIGGER chat_messages_ordered_id BEFORE INSERT ON chat_messages
        FOR EACH ROW EXECUTE FUNCTION chat_messages_ordered_id()
    """)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if not isinstance(database, pw.PostgresqlDatabase):
        return
    migrator.sql("DROP TRIGGER IF EXISTS chat_messages_ordered_id ON chat_messages")
    migrator.sql("DROP FUNCTION IF EXISTS chat_messages_ordered_id()")
