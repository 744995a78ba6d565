"""What a reader missed: the mailbox's messages after a receipt sequence, from the database.

Message events need no table of their own: a message's `seq` (its receipt order) is the
event id, so a stream resumed with `Last-Event-ID` and a `wait` with `since` read the
messages table, and what they can replay lives exactly as long as the mailbox and its
messages do.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.events.model import Event, received
from ephemail.store.schema import mailboxes, messages

REPLAY_LIMIT = 1000  # the most events one resumption replays (the default mailbox cap)


async def messages_since(
    engine: AsyncEngine, mailbox_id: int, since: int, limit: int = REPLAY_LIMIT
) -> list[Event]:
    """message.received for each message of the mailbox with `seq > since`, oldest first."""
    query = (
        select(
            messages.c.id,
            messages.c.seq,
            messages.c.from_name,
            messages.c.from_email,
            messages.c.subject,
            messages.c.received_at,
            mailboxes.c.address,
        )
        .join(mailboxes, mailboxes.c.id == messages.c.mailbox_id)
        .where(messages.c.mailbox_id == mailbox_id, messages.c.seq > since)
        .order_by(messages.c.seq)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        received(
            mailbox_id=mailbox_id,
            address=r.address,
            message_id=r.id,
            seq=int(r.seq),
            from_name=r.from_name,
            from_email=r.from_email,
            subject=r.subject,
            received_at=int(r.received_at),
        )
        for r in rows
    ]


async def seq_of(engine: AsyncEngine, mailbox_id: int, message_id: str) -> int | None:
    """The receipt sequence of a message of this mailbox, or None."""
    query = select(messages.c.seq).where(
        messages.c.id == message_id, messages.c.mailbox_id == mailbox_id
    )
    async with engine.connect() as conn:
        seq = (await conn.execute(query)).scalar()
    return None if seq is None else int(seq)
