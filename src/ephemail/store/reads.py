"""The hot reads, in plain SQL on the driver: RCPT lookups, message lists, single messages.

These run on every SMTP recipient and on the busiest API routes, where SQLAlchemy's statement
building and aiosqlite's thread hop cost more than the query itself. SQLite is read inline
on the event loop over its own connection (WAL readers never wait on the writer, and a
lookup by index takes microseconds); PostgreSQL goes through an asyncpg pool. Both speak the
same SQL, checked by one conformance suite.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from ephemail.store.models import AttachmentInfo, Recipient, StoredMessage
from ephemail.store.pg_pool import LazyPool, asyncpg_dsn
from ephemail.store.sqlite_setup import reader_pragmas

# A disabled account's mailboxes receive nothing: RCPT sees no live recipient there.
_RECIPIENT = (
    "SELECT b.id, b.user_id, b.address, b.message_count, b.life_secret FROM mailboxes b "
    "JOIN users u ON u.id = b.user_id "
    "WHERE b.address = ? AND b.expire_at > ? AND NOT u.disabled"
)
# The one definition of "the user's live mailbox at this address" (mailboxes.py runs it too).
OWNED_MAILBOX_SQL = (
    "SELECT id, address FROM mailboxes WHERE address = ? AND user_id = ? AND expire_at > ?"
)
_MESSAGE_COLUMNS = (
    "m.id, m.mailbox_id, m.to_address, m.subject, m.from_name, m.from_email, m.is_html, "
    "m.content, m.is_seen, m.received_at"
)
_ONE = (
    f"SELECT {_MESSAGE_COLUMNS} FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
    "WHERE m.id = ? AND b.expire_at > ? AND (m.user_id = ? OR ? IS NULL) "
    "AND (m.mailbox_id = ? OR ? IS NULL)"
)
_VERSIONS = "SELECT id, is_seen FROM messages WHERE mailbox_id = ? ORDER BY seq DESC, id"
_PAGE = f"{_VERSIONS} LIMIT ?"
_SEQ_OF = "SELECT seq FROM messages WHERE id = ? AND mailbox_id = ?"
# What a `message.received` event holds, for each message after a receipt sequence.
_RECEIVED_SINCE = (
    "SELECT m.id, m.seq, m.from_name, m.from_email, m.subject, m.received_at, b.address "
    "FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
    "WHERE m.mailbox_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
)
_PAGE_BEFORE = (
    "SELECT id, is_seen FROM messages WHERE mailbox_id = ? AND (seq < ? OR (seq = ? AND id > ?)) "
    "ORDER BY seq DESC, id LIMIT ?"
)
_BY_IDS = f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.id IN ({{marks}})"
# A listing's copy: the database hands over at most `?` characters of each body.
_BY_IDS_CUT = _BY_IDS.replace("m.content,", "substr(m.content, 1, ?),")
_FILES_OF_IDS = (
    "SELECT message_id, name, extension, size FROM attachments WHERE message_id IN ({marks}) "
    "ORDER BY message_id, position"
)
_FILES_OF_MESSAGE = (
    "SELECT message_id, name, extension, size FROM attachments WHERE message_id = ? "
    "ORDER BY position"
)


ReceivedRow = tuple[str, int, str, str, str, int, str]


def _message(row: Sequence[Any], files: list[AttachmentInfo]) -> StoredMessage:
    return StoredMessage(
        id=row[0],
        mailbox_id=row[1],
        to=row[2],
        subject=row[3],
        from_name=row[4],
        from_email=row[5],
        is_html=bool(row[6]),
        content=row[7],
        is_seen=bool(row[8]),
        received_at=row[9],
        attachments=tuple(files),
    )


def _index(rows: Sequence[Sequence[Any]]) -> dict[str, list[AttachmentInfo]]:
    index: dict[str, list[AttachmentInfo]] = defaultdict(list)
    for message_id, name, extension, size in rows:
        index[message_id].append(AttachmentInfo(name, extension, size))
    return index


class HotReads(Protocol):
    # True when a read never suspends (SQLite, read on the loop): a caller may then run it
    # outside any asyncio Task. asyncpg needs a current Task for its timeouts.
    inline: bool

    async def live_recipient(self, address: str) -> Recipient | None:
        """The live mailbox at an address, of an account not disabled: what RCPT needs."""

    def live_recipient_now(self, address: str) -> Recipient | None:
        """`live_recipient` without a coroutine; only where `inline` is true."""

    async def owned_mailbox(self, user_id: int, address: str) -> tuple[int, str] | None:
        """(id, address) of the user's live mailbox; foreign and missing look the same."""

    async def list_versions(self, mailbox_id: int) -> list[tuple[str, bool]]:
        """(id, is_seen) of a mailbox's messages, newest first: all a cached listing needs."""

    async def page_versions(
        self, mailbox_id: int, limit: int, before: str | None
    ) -> list[tuple[str, bool]] | None:
        """Up to `limit` (id, is_seen), newest first, older than message `before` if given;
        None when `before` is not a message of this mailbox."""

    async def messages_by_ids(
        self, ids: Sequence[str], content_chars: int | None = None
    ) -> dict[str, StoredMessage]:
        """The messages for the ids that are still there; `content_chars` cuts each body in
        the database, so a listing never loads a whole large body."""

    async def get_message(
        self, message_id: str, *, user_id: int | None, mailbox_id: int | None
    ) -> StoredMessage | None:
        """One message of a live mailbox, if the user (or the token's mailbox) may see it."""

    async def seq_of(self, mailbox_id: int, message_id: str) -> int | None:
        """The receipt sequence of a message of this mailbox (an event id), or None."""

    async def received_since(self, mailbox_id: int, since: int, limit: int) -> list[ReceivedRow]:
        """(id, seq, from_name, from_email, subject, received_at, address) of the mailbox's
        messages after receipt sequence `since`, oldest first: what a reader missed."""

    async def close(self) -> None: ...


class SqliteReads:
    """Inline reads over one connection that only ever reads."""

    inline = True

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in reader_pragmas():
            self._db.execute(pragma)

    async def live_recipient(self, address: str) -> Recipient | None:
        return self.live_recipient_now(address)

    def live_recipient_now(self, address: str) -> Recipient | None:
        row = self._db.execute(_RECIPIENT, (address, int(time.time()))).fetchone()
        return Recipient(row[0], row[1], row[2], row[3], row[4]) if row else None

    async def owned_mailbox(self, user_id: int, address: str) -> tuple[int, str] | None:
        row = self._db.execute(OWNED_MAILBOX_SQL, (address, user_id, int(time.time()))).fetchone()
        return (row[0], row[1]) if row else None

    async def list_versions(self, mailbox_id: int) -> list[tuple[str, bool]]:
        return [(r[0], bool(r[1])) for r in self._db.execute(_VERSIONS, (mailbox_id,))]

    async def page_versions(
        self, mailbox_id: int, limit: int, before: str | None
    ) -> list[tuple[str, bool]] | None:
        if before is None:
            rows = self._db.execute(_PAGE, (mailbox_id, limit))
        else:
            seq = self._db.execute(_SEQ_OF, (before, mailbox_id)).fetchone()
            if seq is None:
                return None
            rows = self._db.execute(_PAGE_BEFORE, (mailbox_id, seq[0], seq[0], before, limit))
        return [(r[0], bool(r[1])) for r in rows]

    async def messages_by_ids(
        self, ids: Sequence[str], content_chars: int | None = None
    ) -> dict[str, StoredMessage]:
        found: dict[str, StoredMessage] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            if content_chars is None:
                rows = self._db.execute(_BY_IDS.format(marks=marks), chunk).fetchall()
            else:
                cut = _BY_IDS_CUT.format(marks=marks)
                rows = self._db.execute(cut, [content_chars, *chunk]).fetchall()
            files = _index(self._db.execute(_FILES_OF_IDS.format(marks=marks), chunk).fetchall())
            found.update((r[0], _message(r, files.get(r[0], []))) for r in rows)
        return found

    async def get_message(
        self, message_id: str, *, user_id: int | None, mailbox_id: int | None
    ) -> StoredMessage | None:
        params = (message_id, int(time.time()), user_id, user_id, mailbox_id, mailbox_id)
        row = self._db.execute(_ONE, params).fetchone()
        if row is None:
            return None
        files = _index(self._db.execute(_FILES_OF_MESSAGE, (message_id,)).fetchall())
        return _message(row, files.get(message_id, []))

    async def seq_of(self, mailbox_id: int, message_id: str) -> int | None:
        row = self._db.execute(_SEQ_OF, (message_id, mailbox_id)).fetchone()
        return int(row[0]) if row else None

    async def received_since(self, mailbox_id: int, since: int, limit: int) -> list[ReceivedRow]:
        return self._db.execute(_RECEIVED_SINCE, (mailbox_id, since, limit)).fetchall()

    async def close(self) -> None:
        self._db.close()


def numbered(sql: str) -> str:
    """`?` placeholders → asyncpg's `$1, $2, …`."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


class PostgresReads:
    """The same SQL through an asyncpg pool (created on first use, inside the running loop)."""

    inline = False

    def __init__(self, dsn: str, pool_size: int = 10) -> None:
        self._pool = LazyPool(dsn, pool_size)
        self._sql = {
            name: numbered(sql)
            for name, sql in {
                "recipient": _RECIPIENT,
                "owned": OWNED_MAILBOX_SQL,
                "one": _ONE.replace("? IS NULL", "?::bigint IS NULL"),
                "files_msg": _FILES_OF_MESSAGE,
                "versions": _VERSIONS,
                "page": _PAGE,
                "seq_of": _SEQ_OF,
                "page_before": _PAGE_BEFORE,
                "received_since": _RECEIVED_SINCE,
            }.items()
        }
        # PostgreSQL takes the id list as one array parameter.
        self._sql["by_ids"] = _BY_IDS.format(marks="?").replace("IN (?)", "= ANY($1::text[])")
        self._sql["by_ids_cut"] = numbered(
            _BY_IDS_CUT.format(marks="?").replace("IN (?)", "= ANY(?::text[])")
        )
        self._sql["files_ids"] = _FILES_OF_IDS.format(marks="?").replace(
            "IN (?)", "= ANY($1::text[])"
        )

    def live_recipient_now(self, address: str) -> Recipient | None:
        raise TypeError("PostgreSQL reads are not inline: await live_recipient")

    async def live_recipient(self, address: str) -> Recipient | None:
        pool = await self._pool.get()
        row = await pool.fetchrow(self._sql["recipient"], address, int(time.time()))
        return Recipient(row[0], row[1], row[2], row[3], row[4]) if row else None

    async def owned_mailbox(self, user_id: int, address: str) -> tuple[int, str] | None:
        pool = await self._pool.get()
        row = await pool.fetchrow(self._sql["owned"], address, user_id, int(time.time()))
        return (row[0], row[1]) if row else None

    async def list_versions(self, mailbox_id: int) -> list[tuple[str, bool]]:
        pool = await self._pool.get()
        return [(r[0], bool(r[1])) for r in await pool.fetch(self._sql["versions"], mailbox_id)]

    async def page_versions(
        self, mailbox_id: int, limit: int, before: str | None
    ) -> list[tuple[str, bool]] | None:
        pool = await self._pool.get()
        if before is None:
            rows = await pool.fetch(self._sql["page"], mailbox_id, limit)
        else:
            async with pool.acquire() as conn:
                seq = await conn.fetchval(self._sql["seq_of"], before, mailbox_id)
                if seq is None:
                    return None
                rows = await conn.fetch(
                    self._sql["page_before"], mailbox_id, seq, seq, before, limit
                )
        return [(r[0], bool(r[1])) for r in rows]

    async def messages_by_ids(
        self, ids: Sequence[str], content_chars: int | None = None
    ) -> dict[str, StoredMessage]:
        if not ids:
            return {}
        pool = await self._pool.get()
        async with pool.acquire() as conn:
            if content_chars is None:
                rows = await conn.fetch(self._sql["by_ids"], list(ids))
            else:
                rows = await conn.fetch(self._sql["by_ids_cut"], content_chars, list(ids))
            files = _index(await conn.fetch(self._sql["files_ids"], list(ids)))
        return {r[0]: _message(r, files.get(r[0], [])) for r in rows}

    async def get_message(
        self, message_id: str, *, user_id: int | None, mailbox_id: int | None
    ) -> StoredMessage | None:
        pool = await self._pool.get()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                self._sql["one"],
                message_id,
                int(time.time()),
                user_id,
                user_id,
                mailbox_id,
                mailbox_id,
            )
            if row is None:
                return None
            files = _index(await conn.fetch(self._sql["files_msg"], message_id))
        return _message(row, files.get(message_id, []))

    async def seq_of(self, mailbox_id: int, message_id: str) -> int | None:
        pool = await self._pool.get()
        seq = await pool.fetchval(self._sql["seq_of"], message_id, mailbox_id)
        return None if seq is None else int(seq)

    async def received_since(self, mailbox_id: int, since: int, limit: int) -> list[ReceivedRow]:
        pool = await self._pool.get()
        rows = await pool.fetch(self._sql["received_since"], mailbox_id, since, limit)
        return [tuple(r) for r in rows]

    async def close(self) -> None:
        await self._pool.close()


def make_reads(url: str, pool_size: int = 10) -> HotReads:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteReads(str(parsed.database))
    return PostgresReads(asyncpg_dsn(parsed), pool_size)
