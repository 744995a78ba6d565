"""Prepared rows of received mail, and what a commit admits of them.

Between RCPT and the commit a mailbox can be deleted, expire, be renamed, or fill up. So each
commit reads the state of the mailboxes its requests name (inside the write transaction,
locked) and admits a message's copy only into the same mailbox life RCPT saw, still live, and
under the per-mailbox message cap, counting as it goes: requests are admitted in the order
they came, and each request gets its own outcome.

Plain data and plain DB-API calls only: the commit process imports this and nothing heavier,
so it starts fast and its one thread spends its time in SQLite.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ephemail.store.ingest.hooks import write_outbox_sqlite

# Insert order matters for the foreign keys: a message before its raw copy and its files.
TABLES = ("messages", "message_raw", "attachments")

GONE = "550 5.1.1 Mailbox no longer exists"
FULL = "452 4.2.2 Mailbox full, try again later"

BOX_STATE_SQL = "SELECT id, life_secret, expire_at, message_count FROM mailboxes WHERE id IN ({})"
BUMP_COUNTS_SQL = "UPDATE mailboxes SET message_count = message_count + ? WHERE id = ?"
# A message row's searchable body (mail/prepare.py): not a column of `messages`, it goes to
# the search index, SQLite's FTS5 table here and PostgreSQL's tsvector in pg_writer.py.
SEARCH_TEXT = "search_text"
SEARCH_BODY_CHARS = 64 * 1024  # migration 0005 cut existing bodies the same
# All of a commit's messages in one statement, the last write before COMMIT: FTS5 writes its
# pending rows out as a new segment at every statement's end, so a statement per message (and
# the writes after them) made a segment, and later merges, per message, not per commit.
FTS_INSERT_SQL = (
    "WITH new (id, body) AS (VALUES {}) "
    "INSERT INTO messages_fts (rowid, subject, sender, body) "
    "SELECT m.rowid, m.subject, m.from_name || ' ' || m.from_email, new.body "
    "FROM new JOIN messages AS m ON m.id = new.id"
)
_CHUNK = 500  # ids per IN list: far below any backend's parameter limit


@dataclass(slots=True)
class Rows:
    """Rows ready for the database: one message's (a copy per recipient, with the mailbox
    lives RCPT saw and the cap), or everything a commit admitted of many."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    raws: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    lives: dict[int, str] = field(default_factory=dict)  # mailbox id → life secret at RCPT
    cap: int = 0  # the most messages a mailbox may hold; the writer sets it

    def extend(self, other: Rows) -> None:
        self.messages += other.messages
        self.raws += other.raws
        self.files += other.files

    def by_table(self) -> list[tuple[str, list[dict[str, Any]]]]:
        return list(zip(TABLES, (self.messages, self.raws, self.files), strict=True))

    def __reduce__(self) -> tuple[type[Rows], tuple[Any, ...]]:
        """Pickled as its fields in order: the slots dataclass default looks them up with
        dataclasses.fields() on every message, both ways across the commit socket."""
        return Rows, (self.messages, self.raws, self.files, self.lives, self.cap)


class BoxState(NamedTuple):
    """A mailbox as the commit finds it, locked: what admitting a message is checked against."""

    life_secret: str
    expire_at: int
    message_count: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one request: the message ids stored (in recipient order), or, when
    none was, the SMTP reply that says why."""

    stored: list[str]
    refused: str | None = None
    # The commit queued webhook deliveries too (for this message or one beside it): the
    # dispatcher has work. Only then is it woken, not by every message received.
    outboxed: bool = False

    def __reduce__(self) -> tuple[type[Outcome], tuple[Any, ...]]:
        """Pickled as its fields in order (as Rows, for the answer of every request)."""
        return Outcome, (self.stored, self.refused, self.outboxed)


def mark_outboxed(outcomes: list[Outcome]) -> list[Outcome]:
    return [dataclasses.replace(o, outboxed=True) for o in outcomes]


@dataclass(slots=True)
class Admission:
    """What one transaction writes: the admitted rows, the count to add per mailbox, and an
    outcome per request."""

    rows: Rows
    added: dict[int, int]
    outcomes: list[Outcome]


def box_ids(requests: Iterable[Rows]) -> list[int]:
    """Every mailbox the requests name, sorted (PostgreSQL locks them in this order)."""
    return sorted({box for rows in requests for box in rows.lives})


def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def admit(requests: Sequence[Rows], boxes: dict[int, BoxState], now: int) -> Admission:
    """Decide, in request order, which copies go in: same life, live, and room left."""
    counts = {box: state.message_count for box, state in boxes.items()}
    admission = Admission(Rows(), {}, [])
    for rows in requests:
        taken: set[int] = set()
        full = False
        need: dict[int, int] = {}
        for message in rows.messages:
            need[message["mailbox_id"]] = need.get(message["mailbox_id"], 0) + 1
        for box, n in need.items():
            state = boxes.get(box)
            if state is None or state.life_secret != rows.lives.get(box) or state.expire_at <= now:
                continue
            if counts[box] + n > rows.cap:
                full = True
                continue
            counts[box] += n
            admission.added[box] = admission.added.get(box, 0) + n
            taken.add(box)
        stored = [m["id"] for m in rows.messages if m["mailbox_id"] in taken]
        if stored:
            admission.rows.extend(_only(rows, set(stored)))
            admission.outcomes.append(Outcome(stored))
        else:
            # A full mailbox may take it later; a gone one never will.
            admission.outcomes.append(Outcome([], FULL if full else GONE))
    return admission


def _only(rows: Rows, ids: set[str]) -> Rows:
    if len(ids) == len(rows.messages):
        return rows
    return Rows(
        messages=[m for m in rows.messages if m["id"] in ids],
        raws=[r for r in rows.raws if r["message_id"] in ids],
        files=[f for f in rows.files if f["message_id"] in ids],
    )


def columns_of(items: list[dict[str, Any]]) -> list[str]:
    """The table columns of prepared rows (the search text is no column)."""
    return [c for c in items[0] if c != SEARCH_TEXT]


def insert_sql(table: str, columns: list[str], numbered: bool) -> str:
    if numbered:  # asyncpg's numeric_dollar
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    else:
        marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def values(items: list[dict[str, Any]], columns: list[str]) -> list[tuple[Any, ...]]:
    return [tuple(item[c] for c in columns) for item in items]


def insert_sqlite(db: sqlite3.Connection, requests: Sequence[Rows]) -> list[Outcome]:
    """Admit and insert requests inside the open `BEGIN IMMEDIATE` transaction, which already
    holds the database's write lock: the counts read here cannot change before the commit."""
    boxes: dict[int, BoxState] = {}
    for ids in chunks(box_ids(requests)):
        found = db.execute(BOX_STATE_SQL.format(",".join("?" * len(ids))), ids)
        boxes.update((int(r[0]), BoxState(r[1], int(r[2]), int(r[3]))) for r in found)
    admission = admit(requests, boxes, int(time.time()))
    for table, items in admission.rows.by_table():
        if items:
            columns = columns_of(items)
            db.executemany(insert_sql(table, columns, False), values(items, columns))
    db.executemany(BUMP_COUNTS_SQL, [(n, box) for box, n in admission.added.items()])
    outboxed = write_outbox_sqlite(db, admission.rows.messages)
    index_sqlite(db, admission.rows.messages)  # last: see FTS_INSERT_SQL
    return mark_outboxed(admission.outcomes) if outboxed else admission.outcomes


def index_sqlite(db: sqlite3.Connection, messages: list[dict[str, Any]]) -> None:
    """The search index rows of stored messages, a chunk of them per statement."""
    for start in range(0, len(messages), _CHUNK):
        chunk = messages[start : start + _CHUNK]
        params = [v for m in chunk for v in (m["id"], m.get(SEARCH_TEXT, ""))]
        db.execute(FTS_INSERT_SQL.format(", ".join(["(?, ?)"] * len(chunk))), params)
