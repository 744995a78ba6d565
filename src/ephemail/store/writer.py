"""The one writer: group commit of many received messages per transaction.

SMTP sessions hand their message to `submit` and wait. Each message is parsed and compressed
as it arrives (on the event loop when small, in a thread when large); the writer takes every
prepared message that is waiting (up to a bound), writes them all in one transaction in its
thread, and only then resolves each session's future, so `250` always means committed. While
one batch commits, the next is being prepared: parsing no longer sits inside the commit cycle,
which is what bounded throughput when every session waits for its own commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard
from sqlalchemy import Connection, Engine, Table, bindparam, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.core.ids import new_message_id
from ephemail.core.time import now_epoch
from ephemail.mail.parse import parse_message
from ephemail.store.db import create_sqlite_writer_engine, is_sqlite
from ephemail.store.mailboxes import Recipient
from ephemail.store.schema import attachments, mailboxes, message_raw, messages
from ephemail.store.turns import WriteTurn

log = logging.getLogger(__name__)
_seq = itertools.count(time.time_ns())

# Messages up to this size are prepared right on the event loop (~0.1 ms for 1 KiB): a thread
# hop costs more than that. Larger ones go to a thread so one big message cannot stall others.
INLINE_PREPARE_BYTES = 64 * 1024


@dataclass(slots=True)
class _Rows:
    """Rows ready for the database: of one message, or merged for a batch."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    raws: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)

    def extend(self, other: _Rows) -> None:
        self.messages += other.messages
        self.raws += other.raws
        self.files += other.files
        for box, n in other.counts.items():
            self.counts[box] = self.counts.get(box, 0) + n


@dataclass(slots=True)
class Delivery:
    """One accepted DATA, prepared: its rows, the ids per recipient, and who waits for it."""

    rows: _Rows
    ids: list[str]
    future: asyncio.Future[list[str]] = field(repr=False)


class WriterClosed(RuntimeError):
    """The writer is stopping; the session should answer 421 and the client retry."""


_local = threading.local()


def _compress(raw: bytes) -> bytes:
    """zstd, with one compressor per thread (a compressor must not be shared across threads)."""
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "zstd", None)
    if compressor is None:
        compressor = _local.zstd = zstandard.ZstdCompressor(level=3)
    return compressor.compress(raw)


def prepare(
    envelope_from: str, recipients: Sequence[Recipient], raw: bytes
) -> tuple[_Rows, list[str]]:
    """Parse, compress and hash one message into its rows (one copy per recipient)."""
    rows = _Rows()
    parsed = parse_message(raw, envelope_from or None)
    packed = _compress(raw)
    digest = hashlib.sha256(raw).hexdigest()
    now = now_epoch()
    ids: list[str] = []
    for rcpt in recipients:
        message_id = new_message_id()
        ids.append(message_id)
        rows.messages.append(
            {
                "id": message_id,
                "mailbox_id": rcpt.mailbox_id,
                "user_id": rcpt.user_id,
                "seq": next(_seq),
                "to_address": rcpt.address,
                "envelope_from": envelope_from[:320],
                "subject": parsed.subject,
                "from_name": parsed.from_name,
                "from_email": parsed.from_email[:320],
                "is_html": parsed.is_html,
                "content": parsed.content,
                "size": len(raw),
                "is_seen": False,
                "received_at": now,
            }
        )
        rows.raws.append({"message_id": message_id, "data": packed, "sha256": digest})
        for position, part in enumerate(parsed.attachments):
            rows.files.append(
                {
                    "message_id": message_id,
                    "position": position,
                    "name": part.name,
                    "extension": part.extension,
                    "content_type": part.content_type,
                    "content_id": part.content_id,
                    "size": len(part.data),
                    "data": part.data,
                }
            )
        rows.counts[rcpt.mailbox_id] = rows.counts.get(rcpt.mailbox_id, 0) + 1
    return rows, ids


def _merged(batch: Sequence[Delivery]) -> _Rows:
    if len(batch) == 1:
        return batch[0].rows
    rows = _Rows()
    for delivery in batch:
        rows.extend(delivery.rows)
    return rows


def _kept(rows: _Rows, live: set[int]) -> _Rows:
    """The rows whose mailbox still exists: a mailbox deleted since RCPT takes its mail along."""
    ids = {m["id"] for m in rows.messages if m["mailbox_id"] in live}
    return _Rows(
        messages=[m for m in rows.messages if m["id"] in ids],
        raws=[r for r in rows.raws if r["message_id"] in ids],
        files=[f for f in rows.files if f["message_id"] in ids],
        counts={box: n for box, n in rows.counts.items() if box in live},
    )


def _tables(rows: _Rows) -> list[tuple[Table, list[dict[str, Any]]]]:
    return [(messages, rows.messages), (message_raw, rows.raws), (attachments, rows.files)]


def _insert_sql(table: Table, columns: list[str], numbered: bool) -> str:
    if numbered:  # asyncpg's numeric_dollar
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    else:
        marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


def _values(items: list[dict[str, Any]], columns: list[str]) -> list[tuple[Any, ...]]:
    return [tuple(item[c] for c in columns) for item in items]


_BUMP_COUNTS = "UPDATE mailboxes SET message_count = message_count + ? WHERE id = ?"


def _write(conn: Connection, rows: _Rows) -> None:
    """Insert a prepared batch on PostgreSQL, through `run_sync` on asyncpg. Driver-level
    executemany: Core's per-row parameter processing was a quarter of the writer's CPU."""
    found = conn.execute(select(mailboxes.c.id).where(mailboxes.c.id.in_(list(rows.counts))))
    kept = _kept(rows, {int(r.id) for r in found})
    for table, items in _tables(kept):
        if items:
            columns = list(items[0])
            conn.exec_driver_sql(_insert_sql(table, columns, True), _values(items, columns))
    if kept.counts:
        conn.execute(
            update(mailboxes)
            .where(mailboxes.c.id == bindparam("box"))
            .values(message_count=mailboxes.c.message_count + bindparam("n")),
            [{"box": box, "n": n} for box, n in kept.counts.items()],
        )


def _write_sqlite(db: sqlite3.Connection, rows: _Rows) -> None:
    """Insert and commit a prepared batch with plain sqlite3, in the writer's thread.

    No SQLAlchemy here: this thread shares the GIL with the event loop serving the sessions,
    and every stretch of Python it runs is a stretch the loop waits for, and the other way
    round. Through SQLAlchemy a 5-message batch took 2.5 ms inside the server against 0.35 ms
    alone; this way the whole cycle got 25 % faster (bench/smtp_ingest.py, 1 KiB).
    """
    boxes = list(rows.counts)
    db.execute("BEGIN IMMEDIATE")
    try:
        found = db.execute(
            f"SELECT id FROM mailboxes WHERE id IN ({','.join('?' * len(boxes))})", boxes
        )
        kept = _kept(rows, {int(r[0]) for r in found})
        for table, items in _tables(kept):
            if items:
                columns = list(items[0])
                db.executemany(_insert_sql(table, columns, False), _values(items, columns))
        db.executemany(_BUMP_COUNTS, [(n, box) for box, n in kept.counts.items()])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class GroupCommitWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch_max: int = 256,
        sqlite_engine: Engine | None = None,
        turn: WriteTurn | None = None,
    ) -> None:
        self._engine = engine
        self._sqlite = sqlite_engine
        self._turn = turn
        self._batch_max = batch_max
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.committed = 0
        self.batches = 0
        self.write_seconds = 0.0  # wall time per commit (turn, insert, commit), for the stop log

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def submit(
        self, envelope_from: str, recipients: Sequence[Recipient], raw: bytes
    ) -> list[str]:
        """Store one message for its recipients; returns once committed (ids per recipient)."""
        if self._closing:
            raise WriterClosed("shutting down")
        if len(raw) <= INLINE_PREPARE_BYTES:
            rows, ids = prepare(envelope_from, recipients, raw)
        else:
            rows, ids = await asyncio.to_thread(prepare, envelope_from, recipients, raw)
        if self._closing:
            raise WriterClosed("shutting down")
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Delivery(rows, ids, future))
        return await future

    async def stop(self) -> None:
        """Refuse new work, finish what is queued, then end."""
        self._closing = True
        await self._queue.join()
        if self.batches:
            log.info(
                "writer: %d messages in %d commits (%.1f per commit, %.2f ms each, waits for "
                "the write turn included)",
                self.committed,
                self.batches,
                self.committed / self.batches,
                self.write_seconds / self.batches * 1000,
            )
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sqlite is not None:
            self._sqlite.dispose()
        if self._turn is not None:
            self._turn.close()

    def _write_sqlite(self, batch: list[Delivery]) -> None:
        """The whole batch in one trip to the thread: our turn, insert, commit."""
        assert self._sqlite is not None
        rows = _merged(batch)
        with self._turn or contextlib.nullcontext():
            pooled = self._sqlite.raw_connection()  # with the engine's pragmas applied
            try:
                driver = pooled.driver_connection
                assert isinstance(driver, sqlite3.Connection)
                _write_sqlite(driver, rows)
            finally:
                pooled.close()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[Delivery]) -> None:
        started = time.perf_counter()
        try:
            if self._sqlite is not None:
                await asyncio.to_thread(self._write_sqlite, batch)
            else:
                async with self._engine.begin() as conn:
                    await conn.run_sync(_write, _merged(batch))
        except Exception:
            if len(batch) > 1:
                # Isolate the faulty message: the others must not fail with it.
                log.exception("batch of %d failed; retrying one by one", len(batch))
                for delivery in batch:
                    await self._commit([delivery])
                return
            log.exception("storing a message failed")
            if not batch[0].future.done():
                batch[0].future.set_exception(RuntimeError("storage failed"))
            return
        self.committed += len(batch)
        self.batches += 1
        self.write_seconds += time.perf_counter() - started
        for delivery in batch:
            if not delivery.future.done():
                delivery.future.set_result(delivery.ids)


def make_writer(
    url: str, engine: AsyncEngine, *, batch_max: int = 256, synchronous: str = "FULL"
) -> GroupCommitWriter:
    """SQLite gets its own sqlite3 engine for the writer thread, and a turn shared by the
    node's workers; PostgreSQL uses `engine` and its own row locking."""
    if not is_sqlite(url):
        return GroupCommitWriter(engine, batch_max=batch_max)
    database = make_url(url).database
    on_disk = database and database != ":memory:"
    turn = WriteTurn(Path(f"{database}.write-turn")) if on_disk else None
    return GroupCommitWriter(
        engine,
        batch_max=batch_max,
        sqlite_engine=create_sqlite_writer_engine(url, synchronous=synchronous),
        turn=turn,
    )
