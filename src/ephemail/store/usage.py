"""Usage per UTC day and account: counted in memory, added to `usage_daily` periodically.

Every process counts what it saw (mail it stored, API requests it answered, units of quota
they kept) and adds its counts to the table every few seconds with `used = used + n`, so
several workers and nodes sum up exactly and no request waits for a database write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.core.tasks import flush_every, stop_then_flush
from ephemail.store.schema import api_keys, usage_daily

log = logging.getLogger(__name__)

FIELDS = ("messages", "api_requests", "quota_used")
NO_ACCOUNT = 0  # the row of API requests that named no account


def utc_day(epoch: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if epoch is None else epoch))


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: str
    messages: int
    api_requests: int
    quota_used: int


class UsageMeter:
    """In-memory counters keyed by (day, user id, field), flushed by a background task."""

    def __init__(self, engine: AsyncEngine, flush_seconds: float = 10.0) -> None:
        self._engine = engine
        self._flush_seconds = flush_seconds
        self._counts: Counter[tuple[str, int, str]] = Counter()
        self._keys_seen: dict[str, int] = {}  # key hash → epoch seconds it was last seen
        self._task: asyncio.Task[None] | None = None
        self._day_epoch = -1.0
        self._day = ""

    def _today(self) -> str:
        now = time.time()
        if now - self._day_epoch >= 1.0:  # strftime once a second, not per request
            self._day_epoch, self._day = now, utc_day(now)
        return self._day

    def message(self, user_id: int) -> None:
        self._counts[(self._today(), user_id, "messages")] += 1

    def api_request(self, user_id: int | None, kept: bool) -> None:
        """One API answer; `kept` when it counted against the account's quota (a 2xx)."""
        day = self._today()
        uid = NO_ACCOUNT if user_id is None else user_id
        self._counts[(day, uid, "api_requests")] += 1
        if kept:
            self._counts[(day, uid, "quota_used")] += 1

    def key_seen(self, key_hash: str, at: int | None = None) -> None:
        """An API key was used (noted by the key cache when it loads the key)."""
        self._keys_seen[key_hash] = int(time.time()) if at is None else at

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                flush_every(
                    self._flush_seconds, self.flush, log, "usage write-behind failed; will retry"
                )
            )

    async def flush(self) -> None:
        await self._flush_keys()
        if not self._counts:
            return
        counts, self._counts = self._counts, Counter()
        rows: dict[tuple[str, int], dict[str, int]] = {}
        for (day, uid, name), n in counts.items():
            rows.setdefault((day, uid), dict.fromkeys(FIELDS, 0))[name] += n
        try:
            async with self._engine.begin() as conn:
                for (day, uid), values in rows.items():
                    where = and_(usage_daily.c.day == day, usage_daily.c.user_id == uid)
                    added = {k: getattr(usage_daily.c, k) + v for k, v in values.items()}
                    for _ in range(3):
                        result = await conn.execute(update(usage_daily).where(where).values(added))
                        if result.rowcount:
                            break
                        try:
                            async with conn.begin_nested():
                                await conn.execute(
                                    usage_daily.insert().values(day=day, user_id=uid, **values)
                                )
                            break
                        except IntegrityError:
                            continue  # another process made the row first: add to it
        except Exception:
            self._counts.update(counts)
            raise

    async def _flush_keys(self) -> None:
        if not self._keys_seen:
            return
        seen, self._keys_seen = self._keys_seen, {}
        stamp = update(api_keys).where(
            api_keys.c.key_hash == bindparam("h"),
            or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < bindparam("t")),
        )
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    stamp.values(last_used_at=bindparam("t")),
                    [{"h": h, "t": t} for h, t in seen.items()],
                )
        except Exception:
            for h, t in seen.items():
                self._keys_seen.setdefault(h, t)
            raise

    async def close(self) -> None:
        await stop_then_flush(self._task, self.flush, log, "could not write the last usage counts")


async def usage_by_day(engine: AsyncEngine, days: int = 31) -> list[DayUsage]:
    """Totals per day over every account, newest first."""
    since = utc_day(time.time() - days * 86400)
    query = (
        select(
            usage_daily.c.day,
            *(func.sum(getattr(usage_daily.c, f)).label(f) for f in FIELDS),
        )
        .where(usage_daily.c.day > since)
        .group_by(usage_daily.c.day)
        .order_by(usage_daily.c.day.desc())
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        DayUsage(r.day, int(r.messages or 0), int(r.api_requests or 0), int(r.quota_used or 0))
        for r in rows
    ]
