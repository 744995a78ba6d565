"""webhooks, their durable outbox and the deliveries log"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from ephemail.store.migrations.columns import Id, owned_by

revision = "0006_webhooks"
down_revision = "0005_search"


def _delivery_columns() -> list[sa.Column[Any]]:
    """What the outbox and the deliveries log both hold: their id, the hook and the event."""
    return [
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        owned_by("webhook_id", "webhooks"),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        owned_by("user_id", "users"),
        owned_by("mailbox_id", "mailboxes", nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.String(512), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhooks_user", "webhooks", ["user_id"])
    op.create_index("ix_webhooks_mailbox", "webhooks", ["mailbox_id"])
    op.create_table(
        "webhook_outbox",
        *_delivery_columns(),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("claimed_until_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_outbox_event"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["next_attempt_ms"])
    op.create_table(
        "webhook_deliveries",
        *_delivery_columns(),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("next_retry_ms", sa.BigInteger(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_deliveries_hook", "webhook_deliveries", ["webhook_id", "id"])
    op.create_index("ix_webhook_deliveries_at", "webhook_deliveries", ["at_ms"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_outbox")
    op.drop_table("webhooks")
