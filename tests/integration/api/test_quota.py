"""The monthly quota: exact under concurrency, on every backend, counting only 2xx."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import insert

from ephemail.core.periods import current_period
from ephemail.store import accounts
from ephemail.store.schema import quota_counters
from tests.support import Running, make_settings, start_service
from tests.support.contract import rate
from tests.support.databases import REDIS_URL, require_service, temporary_pg_database
from tests.support.plans import put_plan

LIMIT = 1000


@pytest.fixture(params=["memory", "sql-postgresql", "redis-postgresql", "sql-sqlite"])
async def metered(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    """A service per quota backend; the shared backends run on PostgreSQL and Redis."""
    kind, _, db = request.param.partition("-")
    prefix = f"ephemail-test-{secrets.token_hex(4)}"
    if kind == "redis":
        require_service("Redis")
    async with contextlib.AsyncExitStack() as stack:
        overrides: dict[str, object] = {"quota_backend": kind, "redis_prefix": prefix}
        if db == "postgresql":
            overrides["database_url"] = await stack.enter_async_context(temporary_pg_database())
        if kind == "redis":
            overrides["redis_url"] = REDIS_URL
        svc = await start_service(make_settings(tmp_path, **overrides))
        try:
            async with svc.engine.begin() as conn:
                await put_plan(conn, "metered", quota=LIMIT, lifetime=600, mailboxes=10)
            yield svc
        finally:
            await svc.service.stop(grace=1)
            if kind == "redis":
                client = aioredis.from_url(REDIS_URL)
                keys = [k async for k in client.scan_iter(f"{prefix}:*")]
                if keys:
                    await client.delete(*keys)
                await client.aclose()


async def user_with_remaining(svc: Running, remaining: int, zone: str = "UTC") -> str:
    email = f"q-{secrets.token_hex(4)}@example.org"
    async with svc.engine.begin() as conn:
        user = await accounts.create_user(conn, email, plan_name="metered", timezone=zone)
        _, key = await accounts.create_key(conn, email)
        await conn.execute(
            insert(quota_counters).values(
                user_id=user.id, period=current_period(zone).key, used=LIMIT - remaining
            )
        )
    return key


def client_for(svc: Running, key: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    return httpx.AsyncClient(
        base_url=svc.base_url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=60
    )


async def test_300_concurrent_requests_against_200_remaining(metered: Running) -> None:
    key = await user_with_remaining(metered, 200)
    async with client_for(metered, key) as client:
        responses = await asyncio.gather(*(client.get("/api/domains") for _ in range(300)))
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: 200, 429: 100}
        used_on_success = sorted(rate(r.headers)[1] for r in responses if r.status_code == 200)
        assert used_on_success == list(range(LIMIT - 199, LIMIT + 1))  # each 2xx saw itself
        for r in responses:
            if r.status_code == 429:
                assert r.json() == {"status": False, "message": "Monthly quota exceeded."}
                assert rate(r.headers)[:3] == (LIMIT, LIMIT, 0)
                assert int(r.headers["retry-after"]) > 0
    # A client that comes later, on a connection of its own, finds the quota spent too.
    async with client_for(metered, key) as client:
        after = await client.get("/api/domains")
    assert after.status_code == 429
    assert rate(after.headers)[1] == LIMIT


async def test_only_2xx_count_when_mixed_with_404s(metered: Running) -> None:
    key = await user_with_remaining(metered, 500)
    async with client_for(metered, key) as client:
        start = rate((await client.get("/api/domains")).headers)[1]
        requests = [
            client.get("/api/domains") if i % 3 == 0 else client.get(f"/api/messages/{'x' * 46}")
            for i in range(150)
        ]
        responses = await asyncio.gather(*requests)
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: 50, 404: 100}
        for r in responses:
            if r.status_code == 404:
                assert rate(r.headers)[1] < LIMIT  # headers present, request not counted
        end = rate((await client.get("/api/domains")).headers)[1]
    assert end == start + 50 + 1


async def test_reset_is_next_month_in_the_account_zone(metered: Running) -> None:
    key = await user_with_remaining(metered, 10, zone="Asia/Karachi")
    async with client_for(metered, key) as client:
        response = await client.get("/api/domains")
    limit, used, remaining, reset = rate(response.headers)
    assert (limit, used, remaining) == (LIMIT, LIMIT - 9, 9)
    assert reset == current_period("Asia/Karachi").reset_iso
    assert reset.endswith("T00:00:00+05:00") and reset[8:10] == "01"
