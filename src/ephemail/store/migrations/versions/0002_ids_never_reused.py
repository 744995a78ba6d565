"""ids are never reused: SQLite tables get AUTOINCREMENT

Without AUTOINCREMENT SQLite gives the highest id of a deleted row to the next row, so a
mailbox id sealed in an email token, or held by mail between RCPT and DATA, could name a
mailbox of another user. SQLite cannot add AUTOINCREMENT to a table, so each table whose id
leaves the process is rebuilt with its rows (ids kept). PostgreSQL sequences never hand out
a value twice: nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"

# Parents first; attachments are found by (message id, name), their id never leaves.
TABLES = ("plans", "users", "api_keys", "domains", "mailboxes")


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # Rebuilding drops each old table: with foreign keys enforced that would cascade and
    # delete every mailbox and message. The migration environment never enables them.
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("SQLite foreign keys must be off while tables are rebuilt")
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"rebuilt tables break foreign keys: {problems[:5]}")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
