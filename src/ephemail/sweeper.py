"""Expiry: receipt already stops at `expire_at`; this purges expired mailboxes in batches."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.core import metrics
from ephemail.events import Event, EventBus
from ephemail.events.model import MAILBOX_EXPIRED
from ephemail.store import webhooks
from ephemail.store.mailboxes import delete_expired

log = logging.getLogger(__name__)
_SWEEP_LOCK = 7412


async def sweep_once(engine: AsyncEngine, batch: int, bus: EventBus | None = None) -> int:
    """Delete every expired mailbox (messages and attachments cascade), one batch per commit.

    Short transactions keep the writer and the API unblocked. On PostgreSQL an advisory
    lock lets only one node sweep at a time (the others return at once and try again at
    their next interval); the DELETE … RETURNING claims its rows besides, so even sweepers
    that do race (the workers of a SQLite node) tell each expiry exactly once.
    """
    removed = 0
    while True:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                got = await conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({_SWEEP_LOCK})")
                if not got.scalar():
                    return removed
            gone = await delete_expired(conn, batch)
            await webhooks.enqueue_expired(conn, gone, MAILBOX_EXPIRED)
            removed += len(gone)
            ids = [box.id for box in gone]
        if bus is not None:  # committed: streams of these mailboxes end
            bus.publish_soon([Event(MAILBOX_EXPIRED, box) for box in ids])
        if len(ids) < batch:
            return removed
        await asyncio.sleep(0)


async def run_sweeper(
    engine: AsyncEngine, interval: float, batch: int, bus: EventBus | None = None
) -> None:
    while True:
        try:
            removed = await sweep_once(engine, batch, bus)
            metrics.get().SWEEPS.labels("ok").inc()
            if removed:
                metrics.get().SWEPT_MAILBOXES.inc(removed)
                log.info("swept %d expired mailboxes", removed)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.get().SWEEPS.labels("failed").inc()
            log.exception("sweep failed; will retry")
        await asyncio.sleep(interval)
