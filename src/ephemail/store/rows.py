"""Prepared rows of received mail, and the SQL that inserts a batch of them.

Plain data and plain DB-API calls only: the commit process imports this and nothing heavier,
so it starts fast and its one thread spends its time in SQLite.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

# Insert order matters for the foreign keys: a message before its raw copy and its files.
TABLES = ("messages", "message_raw", "attachments")

BUMP_COUNTS_SQLITE = "UPDATE mailboxes SET message_count = message_count + ? WHERE id = ?"


@dataclass(slots=True)
class Rows:
    """Rows ready for the database: of one message, or merged for a batch."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    raws: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)

    def extend(self, other: Rows) -> None:
        self.messages += other.messages
        self.raws += other.raws
        self.files += other.files
        for box, n in other.counts.items():
            self.counts[box] = self.counts.get(box, 0) + n

    def by_table(self) -> list[tuple[str, list[dict[str, Any]]]]:
        return list(zip(TABLES, (self.messages, self.raws, self.files), strict=True))


def merged(parts: list[Rows]) -> Rows:
    if len(parts) == 1:
        return parts[0]
    rows = Rows()
    for part in parts:
        rows.extend(part)
    return rows


def kept(rows: Rows, live: set[int]) -> Rows:
    """The rows whose mailbox still exists: a mailbox deleted since RCPT takes its mail along."""
    ids = {m["id"] for m in rows.messages if m["mailbox_id"] in live}
    return Rows(
        messages=[m for m in rows.messages if m["id"] in ids],
        raws=[r for r in rows.raws if r["message_id"] in ids],
        files=[f for f in rows.files if f["message_id"] in ids],
        counts={box: n for box, n in rows.counts.items() if box in live},
    )


def insert_sql(table: str, columns: list[str], numbered: bool) -> str:
    if numbered:  # asyncpg's numeric_dollar
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    else:
        marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def values(items: list[dict[str, Any]], columns: list[str]) -> list[tuple[Any, ...]]:
    return [tuple(item[c] for c in columns) for item in items]


def insert_sqlite(db: sqlite3.Connection, rows: Rows) -> int:
    """Insert a batch into the open SQLite transaction; returns how many messages were kept."""
    boxes = list(rows.counts)
    found = db.execute(
        f"SELECT id FROM mailboxes WHERE id IN ({','.join('?' * len(boxes))})", boxes
    )
    live = kept(rows, {int(r[0]) for r in found})
    for table, items in live.by_table():
        if items:
            columns = list(items[0])
            db.executemany(insert_sql(table, columns, False), values(items, columns))
    db.executemany(BUMP_COUNTS_SQLITE, [(n, box) for box, n in live.counts.items()])
    return len(live.messages)
