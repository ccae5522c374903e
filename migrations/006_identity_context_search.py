"""Verified visitor identities, the visitor's context for the card, search indexes, and the stored event log
behind the live events socket.

Search: PostgreSQL gets a GIN index on to_tsvector('russian', text) for messages and, when the pg_trgm extension
can be created (it needs a privileged role), trigram indexes for names and phones; without it the plain index on
support_chats.phone_key still finds phones. SQLite gets an FTS5 table kept in sync with chat_messages by triggers.
"""

import peewee as pw
from peewee_migrate import Migrator

_PG_TRGM = """
DO $$ BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available: names and phones are searched without trigram indexes';
END $$
"""

_PG_TRGM_INDEXES = """
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS support_chats_client_name_trgm
            ON support_chats USING gin (client_name gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS support_chats_phone_key_trgm
            ON support_chats USING gin (phone_key gin_trgm_ops);
    END IF;
END $$
"""

_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE chat_messages_fts USING fts5(text, content='chat_messages', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "INSERT INTO chat_messages_fts(rowid, text) SELECT id, text FROM chat_messages",
    "CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN "
    "INSERT INTO chat_messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN "
    "INSERT INTO chat_messages_fts(chat_messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF text ON chat_messages BEGIN "
    "INSERT INTO chat_messages_fts(chat_messages_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO chat_messages_fts(rowid, text) VALUES (new.id, new.text); END",
]


def _postgres(database: pw.Database) -> bool:
    return isinstance(database, pw.PostgresqlDatabase)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    @migrator.create_model
    class VisitorIdentity(pw.Model):
        id = pw.AutoField()
        external_id = pw.CharField(max_length=128, unique=True)
        name = pw.CharField(max_length=100, null=True)
        phone = pw.CharField(max_length=32, null=True)
        email = pw.CharField(max_length=255, null=True)
        created_at = pw.DateTimeField()
        last_seen_at = pw.DateTimeField()

        class Meta:
            table_name = "visitor_identities"

    @migrator.create_model
    class IntegrationEvent(pw.Model):
        id = pw.AutoField()
        event = pw.CharField(max_length=64)
        payload = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "integration_events"

    migrator.add_fields(
        "visitor_sessions",
        identity=pw.ForeignKeyField(VisitorIdentity, column_name="identity_id", field="id", null=True,
                                    on_delete="SET NULL"),
        claimed_id=pw.CharField(max_length=128, null=True),
        email=pw.CharField(max_length=255, null=True),
        page_title=pw.CharField(max_length=300, null=True),
        referrer=pw.TextField(null=True),
        user_agent=pw.CharField(max_length=512, null=True),
        tz_offset=pw.SmallIntegerField(null=True),
        pages=pw.TextField(null=True),
    )
    migrator.add_fields("support_chats", phone_key=pw.CharField(max_length=16, null=True, index=True))
    if _postgres(database):
        migrator.sql("CREATE INDEX chat_messages_text_russian ON chat_messages "
                     "USING gin (to_tsvector('russian', text))")
        migrator.sql(_PG_TRGM)
        migrator.sql(_PG_TRGM_INDEXES)
    else:
        for statement in _SQLITE_FTS:
            migrator.sql(statement)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    if _postgres(database):
        migrator.sql("DROP INDEX IF EXISTS support_chats_client_name_trgm")
        migrator.sql("DROP INDEX IF EXISTS support_chats_phone_key_trgm")
        migrator.sql("DROP INDEX IF EXISTS chat_messages_text_russian")
    else:
        for name in ("insert", "delete", "update"):
            migrator.sql(f"DROP TRIGGER IF EXISTS chat_messages_fts_{name}")
        migrator.sql("DROP TABLE IF EXISTS chat_messages_fts")
    migrator.remove_fields("support_chats", "phone_key")
    migrator.remove_fields("visitor_sessions", "identity", "claimed_id", "email", "page_title", "referrer",
                           "user_agent", "tz_offset", "pages")
    migrator.remove_model("integration_events")
    migrator.remove_model("visitor_identities")
