"""Stored messages: listing, reading, deleting, attachments. Every read filters by owner."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.core.time import now_epoch
from ephemail.store.schema import attachments, mailboxes, message_raw, messages


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    name: str
    extension: str
    size: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    mailbox_id: int
    to: str
    subject: str
    from_name: str
    from_email: str
    is_html: bool
    content: str
    is_seen: bool
    received_at: int
    attachments: tuple[AttachmentInfo, ...]


@dataclass(frozen=True, slots=True)
class AttachmentData:
    name: str
    content_type: str
    data: bytes


_COLUMNS = (
    messages.c.id,
    messages.c.mailbox_id,
    messages.c.to_address,
    messages.c.subject,
    messages.c.from_name,
    messages.c.from_email,
    messages.c.is_html,
    messages.c.content,
    messages.c.is_seen,
    messages.c.received_at,
)


def _live_owned(user_id: int | None, mailbox_id: int | None = None):  # type: ignore[no-untyped-def]
    """Messages whose mailbox is live and, unless reading by token, owned by the user."""
    query = select(*_COLUMNS).join(mailboxes, messages.c.mailbox_id == mailboxes.c.id)
    query = query.where(mailboxes.c.expire_at > now_epoch())
    if user_id is not None:
        query = query.where(messages.c.user_id == user_id)
    if mailbox_id is not None:
        query = query.where(messages.c.mailbox_id == mailbox_id)
    return query


async def _attachment_index(
    conn: AsyncConnection, ids: list[str]
) -> dict[str, list[AttachmentInfo]]:
    index: dict[str, list[AttachmentInfo]] = defaultdict(list)
    if not ids:
        return index
    rows = await conn.execute(
        select(
            attachments.c.message_id,
            attachments.c.name,
            attachments.c.extension,
            attachments.c.size,
        )
        .where(attachments.c.message_id.in_(ids))
        .order_by(attachments.c.message_id, attachments.c.position)
    )
    for row in rows:
        index[row.message_id].append(AttachmentInfo(row.name, row.extension, row.size))
    return index


def _message(
    row: object, files: list[AttachmentInfo], *, seen: bool | None = None
) -> StoredMessage:
    m = row._mapping  # type: ignore[attr-defined]
    return StoredMessage(
        id=m["id"],
        mailbox_id=m["mailbox_id"],
        to=m["to_address"],
        subject=m["subject"],
        from_name=m["from_name"],
        from_email=m["from_email"],
        is_html=bool(m["is_html"]),
        content=m["content"],
        is_seen=bool(m["is_seen"]) if seen is None else seen,
        received_at=m["received_at"],
        attachments=tuple(files),
    )


async def list_messages(conn: AsyncConnection, mailbox_id: int) -> list[StoredMessage]:
    """Newest first. The caller has already checked that the mailbox is the reader's."""
    rows = (
        await conn.execute(
            _live_owned(None, mailbox_id).order_by(messages.c.seq.desc(), messages.c.id)
        )
    ).all()
    files = await _attachment_index(conn, [r.id for r in rows])
    return [_message(r, files.get(r.id, [])) for r in rows]


async def get_message(
    conn: AsyncConnection,
    message_id: str,
    *,
    user_id: int | None,
    mailbox_id: int | None = None,
    mark_seen: bool = True,
) -> StoredMessage | None:
    """One message of a live mailbox the reader may see; reading it marks it seen."""
    row = (
        await conn.execute(_live_owned(user_id, mailbox_id).where(messages.c.id == message_id))
    ).first()
    if row is None:
        return None
    if mark_seen and not row.is_seen:
        await conn.execute(update(messages).where(messages.c.id == message_id).values(is_seen=True))
    files = await _attachment_index(conn, [message_id])
    return _message(row, files.get(message_id, []), seen=True if mark_seen else None)


async def delete_message(conn: AsyncConnection, message_id: str, *, user_id: int) -> bool:
    found = await get_message(conn, message_id, user_id=user_id, mark_seen=False)
    if found is None:
        return False
    await conn.execute(delete(messages).where(messages.c.id == message_id))
    await conn.execute(
        update(mailboxes)
        .where(mailboxes.c.id == found.mailbox_id)
        .values(message_count=mailboxes.c.message_count - 1)
    )
    return True


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
