"""Each message knows the id of its session's message before it (PostgreSQL), so a process can hand a row it
committed to its own sockets from memory instead of reading the session again (issue 12).

With several writers a socket may only be given a row once it has had every lower id of the session; a row
committed elsewhere a moment before may still be on its way (its notification). The event-order trigger (007)
draws ids under the session's transaction lock; reading the session's highest id right after taking that lock
sees every earlier row, committed or this transaction's own. That id goes into the row: a socket that has had it
can be given the new row at once; one that has not reads the session, as before. SQLite has one writer and leaves
the column empty.
"""

import peewee as pw
from peewee_migrate import Migrator

EVENT_ORDER_NAMESPACE = 0x11F1  # as in 007


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("chat_messages", previous_event_id=pw.BigIntegerField(null=True))
    if not isinstance(database, pw.PostgresqlDatabase):
        return
    # A VOLATILE function's statements each see what committed before they began (READ COMMITTED), so the
    # max() after the lock sees the rows of every transaction that held the lock before this one.
    migrator.sql(f"""
        CREATE OR REPLACE FUNCTION chat_messages_ordered_id() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({EVENT_ORDER_NAMESPACE}, NEW.session_id);
            NEW.previous_event_id := (SELECT max(id) FROM chat_messages WHERE session_id = NEW.session_id);
            NEW.id := nextval(pg_get_serial_sequence('chat_messages', 'id'));
            RETURN NEW;
        END $$
    """)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if isinstance(database, pw.PostgresqlDatabase):
        migrator.sql(f"""
            CREATE OR REPLACE FUNCTION chat_messages_ordered_id() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock({EVENT_ORDER_NAMESPACE}, NEW.session_id);
                NEW.id := nextval(pg_get_serial_sequence('chat_messages', 'id'));
                RETURN NEW;
            END $$
        """)
    migrator.remove_fields("chat_messages", "previous_event_id")
