"""website: sign-in sessions, usage per day, when each API key was last used

Revision ID: 0004_web
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ephemail.store.migrations.columns import KEEP_AUTOINCREMENT, bigint, cascade, ref

revision = "0004_web"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("api_keys", table_kwargs=KEEP_AUTOINCREMENT) as batch:
        batch.add_column(bigint("last_used_at", nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        ref("user_id"),
        bigint("created_at"),
        bigint("expires_at"),
        cascade("user_id", "users"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires", "web_sessions", ["expires_at"])
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.String(length=10), nullable=False),
        bigint("user_id"),
        bigint("messages"),
        bigint("api_requests"),
        bigint("quota_used"),
        sa.PrimaryKeyConstraint("day", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_index("ix_web_sessions_expires", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("api_keys", table_kwargs=KEEP_AUTOINCREMENT) as batch:
        batch.drop_column("last_used_at")
