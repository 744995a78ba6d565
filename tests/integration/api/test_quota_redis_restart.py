"""The Redis quota is written back to the database: a Redis that restarts empty (or a node
that stops) loses no used quota. Redis here is a server of the test's own, killed and
started again; it saves nothing, so after the restart it knows no counter at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from ephemail.core.periods import current_period
from ephemail.mail.smtp.server import bind_socket
from ephemail.service import Service
from ephemail.store import accounts
from ephemail.store.quota import load_used
from tests.support import make_settings, start_service
from tests.support.plans import put_plan
from tests.support.redis_server import own_redis

LIMIT = 10


async def _get(base_url: str, key: str) -> httpx.Response:
    # A new connection per request: the quota, not keep-alive, is what is under test.
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await client.get("/api/domains", headers={"Authorization": f"Bearer {key}"})


async def test_used_quota_continues_exactly_after_redis_restarts_empty(tmp_path: Path) -> None:
    with own_redis(tmp_path) as redis:
        settings = make_settings(tmp_path, redis_url=redis.url, quota_flush_seconds=0.2)
        running = await start_service(settings)
        try:
            assert type(running.service.quota).__name__ == "RedisQuota"
            async with running.engine.begin() as conn:
                await put_plan(conn, "ten", quota=LIMIT, lifetime=3600, mailboxes=5)
            _, key = await running.new_user(plan="ten")
            used = []
            for _ in range(6):
                answer = await _get(running.base_url, key)
                assert answer.status_code == 200
                used.append(int(answer.headers["x-ratelimit-used"]))
            assert used == [1, 2, 3, 4, 5, 6]
            await asyncio.sleep(1.0)  # a few write-back intervals
            redis.restart()  # every key gone

            codes, used = [], []
            for _ in range(6):
                answer = await _get(running.base_url, key)
                codes.append(answer.status_code)
                used.append(int(answer.headers["x-ratelimit-used"]))
            # on from 6, not from 0; and never past the limit
            assert codes == [200, 200, 200, 200, 429, 429]
            assert used == [7, 8, 9, 10, 10, 10]
        finally:
            await running.service.stop(grace=1)


async def test_a_stopping_node_writes_its_counts_back(tmp_path: Path) -> None:
    with own_redis(tmp_path) as redis:
        # An interval far longer than the test: only the write-back on stop can store it.
        settings = make_settings(tmp_path, redis_url=redis.url, quota_flush_seconds=3600)
        first = await start_service(settings)
        try:
            email, key = await first.new_user()
            for _ in range(3):
                assert (await _get(first.base_url, key)).status_code == 200
            async with first.engine.connect() as conn:
                user = await accounts.require_user(conn, email)
        finally:
            await first.service.stop(grace=1)
        redis.restart()
        period = current_period(user.timezone).key
        second = Service(settings)  # the same database, started again
        await second.start(
            bind_socket("127.0.0.1", 0, reuse_port=False),
            bind_socket("127.0.0.1", 0, reuse_port=False),
        )
        try:
            assert await load_used(second.engine, user.id, period) == 3
            answer = await _get(f"http://127.0.0.1:{second.http_port}", key)
            assert answer.headers["x-ratelimit-used"] == "4"
        finally:
            await second.stop(grace=1)
