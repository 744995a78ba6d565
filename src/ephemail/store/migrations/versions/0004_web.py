"""website: sign-in sessions, usage per day, when each API key was last used"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ephemail.store.migrations.columns import add_column, bigint, cascade, drop_column, ref, string

revision = "0004_web"
down_revision = "0003"


def upgrade() -> None:
    add_column("api_keys", bigint("last_used_at", nullable=True))
    op.create_table(
        "web_sessions",
        string("id_hash", 64),
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
        string("day", 10),
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
    drop_column("api_keys", "last_used_at")
