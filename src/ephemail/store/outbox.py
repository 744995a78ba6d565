"""The webhook outbox seen by its dispatchers: claim due rows with a lease, record what each
attempt got, prune the log.

A claim sets `claimed_until_ms`; a row is taken only while that is in the past, checked in
the UPDATE itself, so two dispatchers (workers, nodes) never both take a row, and a
dispatcher that died lets its rows go when the lease runs out. On PostgreSQL the candidates
are picked `FOR UPDATE SKIP LOCKED`, so dispatchers do not queue behind each other's picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.store.schema import webhook_deliveries, webhook_outbox, webhooks


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    webhook_id: int
    event_id: str
    event_type: str
    payload: str
    created_ms: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt got. `next_retry_ms` None: done (delivered or given up)."""

    row: Pending
    status_code: int | None
    error: str | None
    latency_ms: int
    at_ms: int
    next_retry_ms: int | None


async def claim(
    engine: AsyncEngine, now_ms: int, lease_ms: int, limit: int, skip: Sequence[int] = ()
) -> list[Pending]:
    """Up to `limit` due rows, now this dispatcher's until `now_ms + lease_ms`. `skip`: hooks
    whose receiver has no free slot here (they stay for later or for another dispatcher)."""
    o = webhook_outbox.c
    due = (
        select(o.id)
        .where(o.next_attempt_ms <= now_ms, o.claimed_until_ms <= now_ms)
        .order_by(o.next_attempt_ms)
        .limit(limit)
    )
    if skip:
        due = due.where(o.webhook_id.not_in(list(skip)))
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    else:
        # SQLite: a read first, so an idle poll never takes the database's write lock.
        async with engine.connect() as conn:
            ids = [int(r[0]) for r in await conn.execute(due)]
        if not ids:
            return []
        due = select(o.id).where(o.id.in_(ids))
    taken = (
        update(webhook_outbox)
        .where(o.id.in_(due.scalar_subquery()), o.claimed_until_ms <= now_ms)
        .values(claimed_until_ms=now_ms + lease_ms)
        .returning(
            o.id, o.webhook_id, o.event_id, o.event_type, o.payload, o.created_ms, o.attempts
        )
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(taken)).all()
    return [Pending(*row) for row in rows]


async def record(engine: AsyncEngine, attempts: Sequence[Attempt]) -> None:
    """One transaction for a batch of outcomes: done rows leave the outbox, the others wait
    for their retry unclaimed; every attempt goes into the log."""
    if not attempts:
        return
    o = webhook_outbox.c
    done = [a.row.id for a in attempts if a.next_retry_ms is None]
    async with engine.begin() as conn:
        if done:
            await conn.execute(delete(webhook_outbox).where(o.id.in_(done)))
        for a in attempts:
            if a.next_retry_ms is not None:
                await conn.execute(
                    update(webhook_outbox)
                    .where(o.id == a.row.id)
                    .values(
                        attempts=a.row.attempts + 1,
                        next_attempt_ms=a.next_retry_ms,
                        claimed_until_ms=0,
                    )
                )
        # A hook deleted meanwhile took its rows with it; its log rows would have no parent.
        hook_ids = list({a.row.webhook_id for a in attempts})
        found = await conn.execute(select(webhooks.c.id).where(webhooks.c.id.in_(hook_ids)))
        live = {int(r[0]) for r in found}
        logged = [a for a in attempts if a.row.webhook_id in live]
        if not logged:
            return
        await conn.execute(
            insert(webhook_deliveries),
            [
                {
                    "webhook_id": a.row.webhook_id,
                    "event_id": a.row.event_id,
                    "event_type": a.row.event_type,
                    "attempt": a.row.attempts + 1,
                    "status_code": a.status_code,
                    "error": (a.error or "")[:200] or None,
                    "latency_ms": a.latency_ms,
                    "at_ms": a.at_ms,
                    "next_retry_ms": a.next_retry_ms,
                }
                for a in logged
            ],
        )


async def release(engine: AsyncEngine, ids: Sequence[int]) -> None:
    """Stopping: rows in flight are free again at once, not at the end of their lease."""
    if ids:
        async with engine.begin() as conn:
            await conn.execute(
                update(webhook_outbox)
                .where(webhook_outbox.c.id.in_(list(ids)))
                .values(claimed_until_ms=0)
            )


async def prune(engine: AsyncEngine, before_ms: int) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.at_ms < before_ms)
        )
    return int(result.rowcount)


async def depth(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(webhook_outbox))).scalar_one()
        )
