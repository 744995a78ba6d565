"""Search within a mailbox, and plans that let a mailbox live longer

- SQLite: `messages_fts`, an FTS5 table of (subject, sender, body) whose rowid is the
  message's rowid; a trigger drops a message's entry with the message (deletes, expiry and
  mailbox deletion alike). PostgreSQL: `messages.search`, a tsvector (`simple` config) with
  a GIN index. The ingest writers fill both for new mail; here existing messages are indexed
  from their stored content (for an HTML message, its markup).
- `plans.max_lifetime_seconds`: how long a mailbox may live from its creation when it is
  extended. Existing plans get their lifetime, so nothing changes until an operator raises it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ephemail.store.migrations.columns import drop_column

revision = "0005_search"
down_revision = "0004_web"

# The body indexed is cut here (as the ingest writers cut theirs: core/search.py's reader).
_BODY_CHARS = 65536
_SQLITE = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "subject, sender, body, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages "
    "BEGIN DELETE FROM messages_fts WHERE rowid = old.rowid; END",
    "INSERT INTO messages_fts (rowid, subject, sender, body) "
    f"SELECT rowid, subject, from_name || ' ' || from_email, substr(content, 1, {_BODY_CHARS}) "
    "FROM messages",
)
_POSTGRES = (
    "ALTER TABLE messages ADD COLUMN search tsvector",
    "UPDATE messages SET search = to_tsvector('simple', subject || ' ' || from_name || ' ' "
    f"|| translate(from_email, '@.', '  ') || ' ' || left(content, {_BODY_CHARS}))",
    "CREATE INDEX ix_messages_search ON messages USING gin (search)",
)


def upgrade() -> None:
    bind = op.get_bind()
    for statement in _SQLITE if bind.dialect.name == "sqlite" else _POSTGRES:
        bind.exec_driver_sql(statement)
    op.add_column(
        "plans",
        sa.Column("max_lifetime_seconds", sa.Integer(), nullable=False, server_default="0"),
    )
    bind.exec_driver_sql("UPDATE plans SET max_lifetime_seconds = mailbox_lifetime")


def downgrade() -> None:
    bind = op.get_bind()
    drop_column("plans", "max_lifetime_seconds")
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS messages_fts_delete")
        bind.exec_driver_sql("DROP TABLE IF EXISTS messages_fts")
    else:
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_messages_search")
        bind.exec_driver_sql("ALTER TABLE messages DROP COLUMN IF EXISTS search")
