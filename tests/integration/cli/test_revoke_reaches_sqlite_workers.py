"""On SQLite without Redis, `ephemail key revoke` reaches the running service at once (its
local inbox), however long the key cache window: the key is refused within a second, and
the event stream it opened ends. With several workers, every worker hears it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.config import Settings
from ephemail.store.schema import api_keys, users
from tests.support import Running, cli, make_settings, start_service
from tests.support.events import events, next_event
from tests.support.nodes import nodes


async def revoke_by_cli(settings: Settings, engine: AsyncEngine, email: str) -> float:
    """Revoke the user's key with `ephemail key revoke`; when it returned (monotonic)."""
    async with engine.connect() as conn:
        key_id = (
            await conn.execute(select(api_keys.c.id).join(users).where(users.c.email == email))
        ).scalar_one()
    done = await asyncio.to_thread(
        cli.run,
        settings.data_dir,
        "key",
        "revoke",
        str(key_id),
        EPHEMAIL_SECRET_KEY=settings.secret_key,
    )
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    return time.monotonic()


async def refused_within_a_second(node: Running, key: str, revoked_at: float) -> None:
    async with node.client(key) as client:
        while (await client.get("/api/domains")).status_code != 401:
            assert time.monotonic() - revoked_at < 1.0
            await asyncio.sleep(0.02)


async def test_cli_revoke_reaches_a_running_sqlite_service(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth_cache_seconds=300)
    running = await start_service(settings)
    try:
        assert running.service.bus.name == "local"
        email, key = await running.new_user()
        box = await running.new_mailbox(email)
        async with running.client(key) as client:
            assert (await client.get("/api/domains")).status_code == 200  # cached now
            async with client.stream("GET", "/api/events", params={"email": box}) as response:
                stream = events(response)
                await asyncio.wait_for(anext(stream), 5)
                revoked_at = await revoke_by_cli(settings, running.engine, email)
                last = await next_event(stream, within=2)
                assert last["event"] == "key.revoked"
        await refused_within_a_second(running, key, revoked_at)
    finally:
        await running.service.stop(grace=1)
    assert list(tmp_path.glob("*.events/*.sock")) == []  # the stopped service left none


async def test_cli_revoke_reaches_every_worker_of_a_sqlite_node(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth_cache_seconds=300)
    async with nodes(settings, 2) as workers:
        assert workers[0].service.bus.name == "commit-process"
        email, key = await workers[0].new_user()
        for worker in workers:  # each has the key in its cache
            async with worker.client(key) as client:
                assert (await client.get("/api/domains")).status_code == 200
        revoked_at = await revoke_by_cli(settings, workers[0].engine, email)
        for worker in workers:
            await refused_within_a_second(worker, key, revoked_at)
