"""Search within one mailbox: full text (FTS5 on SQLite, a tsvector on PostgreSQL, both from
migration 0005), newer than a receipt sequence, unread only. The caller has checked that
the mailbox is the reader's and live."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.core.search import fts5_query, tsquery
from ephemail.store.reads import numbered

_BASE = (
    "SELECT id, is_seen, seq, subject, from_name, from_email FROM messages "
    "WHERE mailbox_id = ? AND seq > ?"
)
_UNREAD = " AND NOT is_seen"
_SQLITE_TEXT = " AND rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
_PG_TEXT = " AND search @@ to_tsquery('simple', ?)"
_ORDER = " ORDER BY seq DESC, id"


@dataclass(frozen=True, slots=True)
class Found:
    id: str
    is_seen: bool
    seq: int
    subject: str
    from_name: str
    from_email: str


async def matching(
    conn: AsyncConnection, mailbox_id: int, words: list[str], after_seq: int, unread: bool
) -> list[Found]:
    """The mailbox's messages with every word (as a prefix), newest first."""
    sqlite = conn.dialect.name == "sqlite"
    sql = _BASE + (_UNREAD if unread else "")
    params: list[object] = [mailbox_id, after_seq]
    if words:
        sql += _SQLITE_TEXT if sqlite else _PG_TEXT
        params.append(fts5_query(words) if sqlite else tsquery(words))
    sql += _ORDER
    rows = await conn.exec_driver_sql(sql if sqlite else numbered(sql), tuple(params))
    found = [tuple(r) for r in rows]
    return [Found(r[0], bool(r[1]), int(r[2]), r[3], r[4], r[5]) for r in found]
