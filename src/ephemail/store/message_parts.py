"""A message's parts as a mail reader needs them: inline images by Content-ID, one part
by its position, the raw source, and the life of the mailbox that holds the message.

The caller has already checked that the reader may see the message (reads.get_message);
`part_life` is the check for the part URLs a message frame loads without a session.
"""

from __future__ import annotations

import io

import zstandard
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.core.time import now_epoch
from ephemail.store.models import AttachmentData
from ephemail.store.schema import attachments, mailboxes, message_raw, messages


async def inline_parts(conn: AsyncConnection, message_id: str) -> list[tuple[int, str, str]]:
    """(position, Content-ID, content type) of the parts a `cid:` URL may name."""
    rows = await conn.execute(
        select(attachments.c.position, attachments.c.content_id, attachments.c.content_type)
        .where(attachments.c.message_id == message_id, attachments.c.content_id.is_not(None))
        .order_by(attachments.c.position)
    )
    return [(int(r.position), str(r.content_id), str(r.content_type)) for r in rows]


async def part_life(conn: AsyncConnection, message_id: str) -> str | None:
    """The life secret of the live mailbox holding the message; None once the message,
    or its mailbox, is gone or expired."""
    row = (
        await conn.execute(
            select(mailboxes.c.life_secret)
            .join(messages, messages.c.mailbox_id == mailboxes.c.id)
            .where(messages.c.id == message_id, mailboxes.c.expire_at > now_epoch())
        )
    ).first()
    return str(row.life_secret) if row else None


async def part_at(conn: AsyncConnection, message_id: str, position: int) -> AttachmentData | None:
    row = (
        await conn.execute(
            select(attachments.c.name, attachments.c.content_type, attachments.c.data).where(
                attachments.c.message_id == message_id, attachments.c.position == position
            )
        )
    ).first()
    return AttachmentData(row.name, row.content_type, bytes(row.data)) if row else None


async def raw_source(conn: AsyncConnection, message_id: str, limit: int) -> bytes | None:
    """The message as it was received, at most `limit` bytes (decompression is bounded)."""
    row = (
        await conn.execute(select(message_raw.c.data).where(message_raw.c.message_id == message_id))
    ).first()
    if row is None:
        return None
    out = bytearray()
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(bytes(row.data))) as reader:
        while len(out) < limit and (chunk := reader.read(min(65536, limit - len(out)))):
            out += chunk
    return bytes(out)
