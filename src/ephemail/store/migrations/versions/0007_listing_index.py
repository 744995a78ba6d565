"""The listing's order in an index: (mailbox_id, seq DESC, id)

A mailbox's messages are listed `ORDER BY seq DESC, id`. The index on (mailbox_id, seq)
gave the rows in seq order but left the tie-break on id to a temporary sort on every
listing; this one hands them over in the listing's own order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_listing_index"
down_revision = "0006_webhooks"


def upgrade() -> None:
    op.create_index(
        "ix_messages_mailbox_order",
        "messages",
        ["mailbox_id", sa.text("seq DESC"), "id"],
    )
    op.drop_index("ix_messages_mailbox_seq", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_mailbox_seq", "messages", ["mailbox_id", "seq"])
    op.drop_index("ix_messages_mailbox_order", table_name="messages")
