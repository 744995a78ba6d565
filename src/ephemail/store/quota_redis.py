"""The Redis quota backend: one Lua script per request, written back to the database.

Redis holds the live count (exact across processes and nodes); the database holds a copy
that is at most `flush_seconds` old. The copy is written every `flush_seconds` for each
counter this process touched, and once more on shutdown, so a Redis that restarts empty
(or is flushed) loses at most the last interval of counting: the first request after it
finds no key and seeds it from the database.

A write never lowers the stored count (`used = max(stored, redis)`): nodes flush the same
shared counter at different moments, and an older reading must not undo a newer one. A
unit that was reserved, written back, then released (a request that ended in a 4xx while
the flush read the counter) stays counted in the copy; the copy is thus at most "requests
in flight at one flush" above Redis, and never below it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import bindparam, case, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.core.tasks import flush_every, stop_then_flush
from ephemail.store.quota import load_used
from ephemail.store.schema import quota_counters, users

log = logging.getLogger("ephemail.store.quota")

_RESERVE = """
local used = redis.call('GET', KEYS[1])
if not used then return -2 end
if tonumber(used) >= tonumber(ARGV[1]) then return -1 end
return redis.call('INCR', KEYS[1])
"""
_RELEASE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""
_TTL_SECONDS = 40 * 24 * 3600

REDIS_MAX_CONNECTIONS = 64  # per process; a command takes well under a millisecond
REDIS_POOL_WAIT_SECONDS = 10.0
REDIS_SOCKET_SECONDS = 5.0  # a Redis that stops answering fails a request, not hangs it


def _upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE SET used = max(used, excluded.used), per dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(quota_counters).values(
        user_id=bindparam("u"), period=bindparam("p"), used=bindparam("n")
    )
    new = stmt.excluded.used
    return stmt.on_conflict_do_update(
        index_elements=[quota_counters.c.user_id, quota_counters.c.period],
        set_={"used": case((quota_counters.c.used < new, new), else_=quota_counters.c.used)},
    )


class RedisQuota:
    """Redis counters, seeded from the database when Redis does not have them."""

    def __init__(
        self, engine: AsyncEngine, url: str, prefix: str = "ephemail", flush_seconds: float = 1.0
    ) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError, TimeoutError

        self._engine = engine
        # A bounded pool that makes callers wait for a free connection: redis-py's default
        # pool raises "Too many connections" past 100 concurrent commands (redis-py 8), which
        # turned a burst of requests into 500s.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_MAX_CONNECTIONS,
            timeout=REDIS_POOL_WAIT_SECONDS,
            socket_timeout=REDIS_SOCKET_SECONDS,
            socket_connect_timeout=REDIS_SOCKET_SECONDS,
            # A pooled connection that died with a Redis restart fails its next command once;
            # that command is sent again on a new connection rather than failing a request.
            # (Had the dead server run it, the count is one high, never one low.)
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[ConnectionError, TimeoutError],
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        self._prefix = f"{prefix}:quota"
        self._reserve = self._redis.register_script(_RESERVE)
        self._release = self._redis.register_script(_RELEASE)
        self._flush_seconds = flush_seconds
        self._dirty: set[tuple[int, str]] = set()
        self._task: asyncio.Task[None] | None = None

    def _key(self, user_id: int, period: str) -> str:
        return f"{self._prefix}:{user_id}:{period}"

    def _touched(self, user_id: int, period: str) -> None:
        self._dirty.add((user_id, period))
        if self._task is None:
            self._task = asyncio.create_task(
                flush_every(
                    self._flush_seconds, self.flush, log, "quota write-back failed; will retry"
                )
            )

    async def reserve(self, user_id: int, period: str, limit: int) -> int | None:
        key = self._key(user_id, period)
        result = int(await self._reserve(keys=[key], args=[limit]))
        if result == -2:  # new period, or Redis lost it (restart, flush): the database's copy
            seed = await load_used(self._engine, user_id, period)
            await self._redis.set(key, seed, nx=True, ex=_TTL_SECONDS)
            result = int(await self._reserve(keys=[key], args=[limit]))
        if result < 0:
            return None
        self._touched(user_id, period)
        return result

    async def release(self, user_id: int, period: str) -> None:
        await self._release(keys=[self._key(user_id, period)])
        self._touched(user_id, period)

    async def used(self, user_id: int, period: str) -> int:
        value = await self._redis.get(self._key(user_id, period))
        if value is None:
            return await load_used(self._engine, user_id, period)
        return int(value)

    async def flush(self) -> None:
        """Copy the counters this process touched from Redis to the database."""
        if not self._dirty:
            return
        dirty, self._dirty = list(self._dirty), set()
        try:
            values = await self._redis.mget([self._key(u, p) for u, p in dirty])
            rows = [
                {"u": u, "p": p, "n": int(v)}
                for (u, p), v in zip(dirty, values, strict=True)
                if v is not None  # Redis lost it: the stored copy is all there is; keep it
            ]
            if rows:
                async with self._engine.begin() as conn:
                    ids = {row["u"] for row in rows}
                    live = set(
                        (await conn.execute(select(users.c.id).where(users.c.id.in_(ids))))
                        .scalars()
                        .all()
                    )
                    rows = [row for row in rows if row["u"] in live]  # deleted users: no row
                    if rows:
                        await conn.execute(_upsert(conn.dialect.name), rows)
        except Exception:
            self._dirty.update(dirty)
            raise

    async def close(self) -> None:
        await stop_then_flush(self._task, self.flush, log, "quota write-back on shutdown failed")
        await self._redis.aclose(close_connection_pool=True)
