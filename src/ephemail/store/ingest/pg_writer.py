"""Group commit on PostgreSQL: each worker batches what its sessions wait on.

The writer task takes every prepared message waiting (up to a bound), admits and inserts
them in one transaction through asyncpg, then gives each session its own outcome. The
mailboxes a batch names are locked (in id order, so two workers cannot deadlock) before their
counts are read, so the message cap holds across workers and nodes. A batch that fails is
retried one message at a time, so one bad message fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ephemail.core import metrics
from ephemail.core.tasks import cancel_and_wait
from ephemail.store.ingest.hooks import write_outbox_pg
from ephemail.store.ingest.rows import (
    BUMP_COUNTS_SQL,
    SEARCH_TEXT,
    BoxState,
    Outcome,
    Rows,
    admit,
    box_ids,
    columns_of,
    insert_sql,
    mark_outboxed,
    values,
)
from ephemail.store.ingest.writer import MessageWriter

if TYPE_CHECKING:  # the commit process imports this package and must not load SQLAlchemy
    from sqlalchemy import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

_LOCK_BOXES = (
    "SELECT id, life_secret, expire_at, message_count FROM mailboxes "
    "WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE"
)


def _with_search(sql: str, columns: list[str]) -> str:
    """The messages INSERT with its `search` vector: the same document migration 0005 builds
    for older rows (subject, sender, the address split into words, the body text), the
    body text being one more parameter after the columns."""
    at = {name: f"${columns.index(name) + 1}" for name in ("subject", "from_name", "from_email")}
    # Each parameter is cast to its column's type: PostgreSQL deduces one type per parameter.
    body = f"${len(columns) + 1}::text"
    vector = (
        f"to_tsvector('simple', {at['subject']}::text || ' ' || {at['from_name']}::text || ' ' "
        f"|| translate({at['from_email']}::varchar, '@.', '  ') || ' ' || {body})"
    )
    return sql.replace(") VALUES (", ", search) VALUES (").removesuffix(")") + f", {vector})"


_BUMP_COUNTS = BUMP_COUNTS_SQL.replace("?", "$1", 1).replace("?", "$2", 1)


@dataclass(slots=True)
class _Waiting:
    rows: Rows
    future: asyncio.Future[Outcome] = field(repr=False)


def _write(conn: Connection, requests: list[Rows]) -> list[Outcome]:
    """Admit and insert a batch through `run_sync`. Driver-level executemany: Core's per-row
    parameter processing was a quarter of the writer's CPU."""
    found = conn.exec_driver_sql(_LOCK_BOXES, (box_ids(requests),))
    boxes = {int(r[0]): BoxState(r[1], int(r[2]), int(r[3])) for r in found}
    admission = admit(requests, boxes, int(time.time()))
    for table, items in admission.rows.by_table():
        if items:
            columns = columns_of(items)
            sql = insert_sql(table, columns, True)
            params = values(items, columns)
            if table == "messages":  # and its search vector, from the columns and the body
                sql = _with_search(sql, columns)
                params = [(*p, m.get(SEARCH_TEXT, "")) for p, m in zip(params, items, strict=True)]
            conn.exec_driver_sql(sql, params)
    if admission.added:
        conn.exec_driver_sql(_BUMP_COUNTS, [(n, box) for box, n in admission.added.items()])
    if write_outbox_pg(conn, admission.rows.messages):
        return mark_outboxed(admission.outcomes)
    return admission.outcomes


class GroupCommitWriter(MessageWriter):
    def __init__(
        self, engine: AsyncEngine, mailbox_message_cap: int, *, batch_max: int = 256
    ) -> None:
        super().__init__(mailbox_message_cap)
        self._engine = engine
        self._batch_max = batch_max
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.write_seconds = 0.0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def _store(self, rows: Rows) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Waiting(rows, future))
        return await future

    async def _close(self) -> None:
        if self.transactions:
            log.info(
                "writer: %d message(s) in %d commit(s) (%.1f per commit, %.2f ms each)",
                self.committed,
                self.transactions,
                self.committed / self.transactions,
                self.write_seconds / self.transactions * 1000,
            )
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: list[_Waiting]) -> None:
        started = time.perf_counter()
        try:
            async with self._engine.begin() as conn:
                outcomes = await conn.run_sync(_write, [waiting.rows for waiting in batch])
        except Exception as exc:
            if len(batch) > 1:
                log.exception("batch of %d failed; retrying one by one", len(batch))
                for waiting in batch:
                    await self._commit([waiting])
                return
            log.exception("storing a message failed")
            if not batch[0].future.done():
                batch[0].future.set_exception(RuntimeError(f"storage failed: {exc}"))
            return
        self.transactions += 1
        metrics.get().COMMIT_BATCH.observe(sum(len(outcome.stored) for outcome in outcomes))
        self.write_seconds += time.perf_counter() - started
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(outcome)
