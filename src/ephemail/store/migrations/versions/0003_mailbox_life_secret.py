"""mailboxes.life_secret: what an email token seals

A random value per mailbox life, new at every create and rename. Existing mailboxes get a
fresh one, so every email token issued before this migration stops working (the mailboxes
and their mail stay; creating or renaming gives a new token).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

from ephemail.store.migrations.columns import KEEP_AUTOINCREMENT, add_column, drop_column, string

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    add_column("mailboxes", string("life_secret", 32, nullable=True))
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM mailboxes"))]
    if ids:
        bind.execute(
            sa.text("UPDATE mailboxes SET life_secret = :secret WHERE id = :id"),
            [{"secret": secrets.token_hex(16), "id": i} for i in ids],
        )
    with op.batch_alter_table("mailboxes", table_kwargs=KEEP_AUTOINCREMENT) as batch:
        batch.alter_column("life_secret", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    drop_column("mailboxes", "life_secret")
