"""Store contract, quota: every backend counts exactly, on SQLite and on PostgreSQL.

The API-level quota tests (tests/integration/api/test_quota.py) go through HTTP; this is the
backend interface itself, so a new backend or a changed one meets the same rules.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import insert

from ephemail.store.quota import QuotaBackend, make_quota
from ephemail.store.schema import quota_counters
from tests.support.databases import REDIS_URL, require_service
from tests.support.store import Store

PERIOD, NEXT_PERIOD = "2026-05", "2026-06"


@pytest.fixture(params=["memory", "sql", "redis"])
async def quota(request: pytest.FixtureRequest, store: Store) -> AsyncIterator[QuotaBackend]:
    kind: str = request.param
    prefix = f"ephemail-test-{secrets.token_hex(4)}"
    if kind == "redis":
        require_service("Redis")
    backend = make_quota(
        kind,
        store.engine,
        redis_url=REDIS_URL,
        shared=True,
        flush_seconds=0.05,
        redis_prefix=prefix,
    )
    try:
        yield backend
    finally:
        await backend.close()
        if kind == "redis":
            client = aioredis.from_url(REDIS_URL)
            try:
                keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()


async def test_reserve_up_to_the_limit_and_release(store: Store, quota: QuotaBackend) -> None:
    uid = store.user.id
    assert [await quota.reserve(uid, PERIOD, 3) for _ in range(4)] == [1, 2, 3, None]
    assert await quota.used(uid, PERIOD) == 3
    await quota.release(uid, PERIOD)
    assert await quota.used(uid, PERIOD) == 2
    assert await quota.reserve(uid, PERIOD, 3) == 3  # the released unit is there again
    assert await quota.reserve(uid, PERIOD, 5) == 4  # a raised limit counts on
    assert await quota.reserve(uid, PERIOD, 2) is None  # a lowered one refuses at once
    assert await quota.used(uid, PERIOD) == 4
    # A new period starts at 0, and one user's count is not another's.
    assert await quota.used(uid, NEXT_PERIOD) == 0
    assert await quota.reserve(uid, NEXT_PERIOD, 3) == 1
    assert await quota.used(uid + 1, PERIOD) == 0
    assert await quota.reserve(uid, "2026-07", 0) is None


async def test_release_never_goes_below_zero(store: Store, quota: QuotaBackend) -> None:
    uid = store.user.id
    await quota.release(uid, PERIOD)
    assert await quota.used(uid, PERIOD) == 0
    assert await quota.reserve(uid, PERIOD, 1) == 1
    await quota.release(uid, PERIOD)
    await quota.release(uid, PERIOD)
    assert await quota.used(uid, PERIOD) == 0
    assert await quota.reserve(uid, PERIOD, 1) == 1
    assert await quota.reserve(uid, PERIOD, 1) is None


async def test_concurrent_reserves_take_exactly_what_remains(
    store: Store, quota: QuotaBackend
) -> None:
    uid = store.user.id
    for _ in range(50):
        assert await quota.reserve(uid, PERIOD, 200) is not None
    results = await asyncio.gather(*(quota.reserve(uid, PERIOD, 200) for _ in range(200)))
    granted = sorted(r for r in results if r is not None)
    assert granted == list(range(51, 201))  # exactly the 150 left, each count handed out once
    assert await quota.used(uid, PERIOD) == 200
    # A period nobody has counted yet, raced from its very first unit.
    fresh = await asyncio.gather(*(quota.reserve(uid, NEXT_PERIOD, 10) for _ in range(40)))
    assert sorted(r for r in fresh if r is not None) == list(range(1, 11))


async def test_counting_goes_on_from_the_database(store: Store, quota: QuotaBackend) -> None:
    """A counter a previous process left in the database is where counting continues."""
    uid = store.user.id
    async with store.engine.begin() as conn:
        await conn.execute(insert(quota_counters).values(user_id=uid, period=PERIOD, used=7))
    assert await quota.used(uid, PERIOD) == 7
    assert await quota.reserve(uid, PERIOD, 8) == 8
    assert await quota.reserve(uid, PERIOD, 8) is None


async def test_memory_counts_are_written_behind(store: Store) -> None:
    """The single-process backend's counts reach the database: a restart, or a switch to
    the shared backends, goes on from them."""
    uid = store.user.id
    memory = make_quota("memory", store.engine, redis_url="", shared=False, flush_seconds=60)
    for _ in range(3):
        await memory.reserve(uid, PERIOD, 10)
    await memory.release(uid, PERIOD)
    await memory.close()  # the last write happens at close, not a flush interval later
    shared = make_quota("sql", store.engine, redis_url="", shared=True)
    assert await shared.used(uid, PERIOD) == 2
    assert await shared.reserve(uid, PERIOD, 10) == 3
    await shared.close()
    restarted = make_quota("memory", store.engine, redis_url="", shared=False)
    assert await restarted.reserve(uid, PERIOD, 10) == 4
    await restarted.close()
