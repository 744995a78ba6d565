"""initial schema"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ephemail.store.migrations.columns import bigint, cascade, ref, serial_id, string

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "plans",
        serial_id(),
        string("name", 64),
        bigint("monthly_quota"),
        sa.Column("mailbox_lifetime", sa.Integer(), nullable=False),
        sa.Column("max_mailboxes", sa.Integer(), nullable=False),
        string("domain_types", 64),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "users",
        serial_id(),
        string("email", 320),
        string("password_hash", 256, nullable=True),
        ref("plan_id"),
        string("timezone", 64),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        bigint("created_at"),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "api_keys",
        serial_id(),
        ref("user_id"),
        string("key_hash", 64),
        string("prefix", 16),
        bigint("created_at"),
        bigint("revoked_at", nullable=True),
        cascade("user_id", "users"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "domains",
        serial_id(),
        string("name", 253),
        string("type", 16),
        ref("owner_id", nullable=True),
        bigint("created_at"),
        cascade("owner_id", "users"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "quota_counters",
        ref("user_id"),
        string("period", 7),
        bigint("used"),
        cascade("user_id", "users"),
        sa.PrimaryKeyConstraint("user_id", "period"),
    )
    op.create_table(
        "mailboxes",
        serial_id(),
        ref("user_id"),
        ref("domain_id"),
        string("address", 320),
        bigint("created_at"),
        bigint("expire_at"),
        sa.Column("message_count", sa.Integer(), nullable=False),
        cascade("domain_id", "domains"),
        cascade("user_id", "users"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.create_index("ix_mailboxes_expire", ["expire_at"], unique=False)
        batch_op.create_index("ix_mailboxes_user", ["user_id"], unique=False)

    op.create_table(
        "messages",
        string("id", 46),
        ref("mailbox_id"),
        ref("user_id"),
        bigint("seq"),
        string("to_address", 320),
        string("envelope_from", 320),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_name", sa.Text(), nullable=False),
        string("from_email", 320),
        sa.Column("is_html", sa.Boolean(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("is_seen", sa.Boolean(), nullable=False),
        bigint("received_at"),
        cascade("mailbox_id", "mailboxes"),
        cascade("user_id", "users"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_mailbox_seq", ["mailbox_id", "seq"], unique=False)

    op.create_table(
        "attachments",
        serial_id(),
        string("message_id", 46),
        sa.Column("position", sa.Integer(), nullable=False),
        string("name", 255),
        string("extension", 64),
        string("content_type", 255),
        string("content_id", 255, nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        cascade("message_id", "messages"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "name", name="uq_attachments_message_name"),
    )
    op.create_table(
        "message_raw",
        string("message_id", 46),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        string("sha256", 64),
        cascade("message_id", "messages"),
        sa.PrimaryKeyConstraint("message_id"),
    )


def downgrade() -> None:
    op.drop_table("message_raw")
    op.drop_table("attachments")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_mailbox_seq")

    op.drop_table("messages")
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.drop_index("ix_mailboxes_user")
        batch_op.drop_index("ix_mailboxes_expire")

    op.drop_table("mailboxes")
    op.drop_table("quota_counters")
    op.drop_table("domains")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("plans")
