"""The plan's mailbox limit holds when many creations arrive at once, on both backends."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support import Running, make_settings, serving
from tests.support.plans import put_plan

CONCURRENT = 30
LIMIT = 2


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(make_settings(tmp_path, database_url=database_url)) as svc:
        async with svc.engine.begin() as conn:
            await put_plan(conn, "two", quota=100_000, lifetime=600, mailboxes=LIMIT)
        yield svc


def many_connections(svc: Running, key: str) -> httpx.AsyncClient:
    """One connection per request, as many clients or worker processes would open."""
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    return httpx.AsyncClient(
        base_url=svc.base_url,
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=60,
    )


async def test_30_concurrent_creations_make_exactly_the_plan_limit(service: Running) -> None:
    _, key = await service.new_user(plan="two")
    async with many_connections(service, key) as client:
        responses = await asyncio.gather(*(client.post("/api/emails") for _ in range(CONCURRENT)))
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: LIMIT, 403: CONCURRENT - LIMIT}
        refused = [r.json() for r in responses if r.status_code == 403]
        assert all(
            body["message"] == "Your plan's mailbox limit has been reached." for body in refused
        )
        made = {r.json()["data"]["email"] for r in responses if r.status_code == 200}
        # The API agrees: each created mailbox is there, and there are no others.
        for address in made:
            listing = await client.get("/api/messages", params={"email": address})
            assert listing.status_code == 200
        assert (await client.post("/api/emails")).status_code == 403


async def test_a_freed_slot_is_taken_by_exactly_one_of_many(service: Running) -> None:
    _, key = await service.new_user(plan="two")
    async with many_connections(service, key) as client:
        first = [(await client.post("/api/emails")).json()["data"]["email"] for _ in range(LIMIT)]
        assert (await client.delete(f"/api/emails/{first[0]}")).status_code == 200
        responses = await asyncio.gather(*(client.post("/api/emails") for _ in range(CONCURRENT)))
        assert Counter(r.status_code for r in responses) == {200: 1, 403: CONCURRENT - 1}


async def test_renames_racing_creations_do_not_open_a_slot(service: Running) -> None:
    """A rename moves a mailbox; it never frees a slot or counts as a new one."""
    _, key = await service.new_user(plan="two")
    async with many_connections(service, key) as client:
        made = (await client.post("/api/emails")).json()["data"]["email"]
        domain = made.split("@")[1]
        renames = [
            client.post(f"/api/emails/{made}/renamed{i}/{domain}") for i in range(CONCURRENT // 2)
        ]
        creations = [client.post("/api/emails") for _ in range(CONCURRENT // 2)]
        responses = await asyncio.gather(*creations, *renames)
        created = Counter(r.status_code for r in responses[: CONCURRENT // 2])
        assert created == {200: 1, 403: CONCURRENT // 2 - 1}
        renamed = [r for r in responses[CONCURRENT // 2 :] if r.status_code == 200]
        assert renamed, "some rename must have succeeded"
        assert (await client.post("/api/emails")).status_code == 403
