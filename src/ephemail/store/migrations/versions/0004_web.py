"""website: sign-in sessions, usage per day, when each API key was last used

Revision ID: 0004_web
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_web"
down_revision = "0003"
branch_labels = None
depends_on = None


# On SQLite a batch rebuilds the table: it must keep the AUTOINCREMENT that 0002 gave it.
_KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("api_keys", table_kwargs=_KEEP) as batch:
        batch.add_column(sa.Column("last_used_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires", "web_sessions", ["expires_at"])
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("api_requests", sa.BigInteger(), nullable=False),
        sa.Column("quota_used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_index("ix_web_sessions_expires", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("api_keys", table_kwargs=_KEEP) as batch:
        batch.drop_column("last_used_at")
