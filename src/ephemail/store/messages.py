"""Stored messages: marking seen, deleting, attachments, raw copies. Every query filters by
owner; listing and reading a message are hot reads (reads.py)."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.core.time import now_epoch
from ephemail.store.models import AttachmentData
from ephemail.store.schema import attachments, mailboxes, message_raw, messages


def _live_owned(user_id: int | None, mailbox_id: int | None = None):  # type: ignore[no-untyped-def]
    """Messages whose mailbox is live and, unless reading by token, owned by the user: the
    ownership check before a delete or a download (reads of messages are in reads.py)."""
    query = select(messages.c.id, messages.c.mailbox_id).join(
        mailboxes, messages.c.mailbox_id == mailboxes.c.id
    )
    query = query.where(mailboxes.c.expire_at > now_epoch())
    if user_id is not None:
        query = query.where(messages.c.user_id == user_id)
    if mailbox_id is not None:
        query = query.where(messages.c.mailbox_id == mailbox_id)
    return query


async def mark_seen(conn: AsyncConnection, message_id: str) -> None:
    await conn.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.is_seen.is_(False))
        .values(is_seen=True)
    )


async def delete_message(conn: AsyncConnection, message_id: str, *, user_id: int) -> int | None:
    """The id of the message's mailbox (for its message.deleted event), or None."""
    found = (await conn.execute(_live_owned(user_id).where(messages.c.id == message_id))).first()
    if found is None:
        return None
    deleted = await conn.execute(delete(messages).where(messages.c.id == message_id))
    if deleted.rowcount != 1:  # a concurrent delete got there first: only one may succeed
        return None
    await conn.execute(
        update(mailboxes)
        .where(mailboxes.c.id == found.mailbox_id)
        .values(message_count=mailboxes.c.message_count - 1)
    )
    return int(found.mailbox_id)


async def get_attachment(
    conn: AsyncConnection,
    message_id: str,
    name: str,
    *,
    user_id: int | None,
    mailbox_id: int | None = None,
) -> AttachmentData | None:
    owner = _live_owned(user_id, mailbox_id).where(messages.c.id == message_id)
    if (await conn.execute(owner)).first() is None:
        return None
    row = (
        await conn.execute(
            select(attachments.c.name, attachments.c.content_type, attachments.c.data).where(
                attachments.c.message_id == message_id, attachments.c.name == name
            )
        )
    ).first()
    if row is None:
        return None
    return AttachmentData(row.name, row.content_type, bytes(row.data))


async def raw_message(conn: AsyncConnection, message_id: str) -> tuple[bytes, str] | None:
    """(compressed raw bytes, sha256 of the original): for audits and the crash harness."""
    row = (
        await conn.execute(
            select(message_raw.c.data, message_raw.c.sha256).where(
                message_raw.c.message_id == message_id
            )
        )
    ).first()
    return (bytes(row.data), str(row.sha256)) if row else None


async def owned_raw(
    conn: AsyncConnection, message_id: str, *, user_id: int | None, mailbox_id: int | None = None
) -> tuple[bytes, str] | None:
    """(compressed raw bytes, sha256) of a message the user (or token's mailbox) may read."""
    owner = _live_owned(user_id, mailbox_id).where(messages.c.id == message_id)
    if (await conn.execute(owner)).first() is None:
        return None
    return await raw_message(conn, message_id)
