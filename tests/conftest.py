"""Shared fixtures: a real service on free ports, real SQLite files and real PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import Running, make_settings, ports, serving
from tests.support.databases import (
    REDIS_URL,
    require_service,
    skipped_service_notes,
    temporary_pg_database,
)

# `pytester` runs small test files in a fresh pytest, for the SDK's pytest plugin.
pytest_plugins = ("pytester",)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for note in skipped_service_notes():
        terminalreporter.write_line(note, yellow=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with temporary_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every store test runs on both backends, so neither drifts."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    async with temporary_pg_database() as url:
        yield url


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The whole service (SMTP + HTTP + sweeper) on free ports over a fresh SQLite file."""
    async with serving(make_settings(tmp_path)) as svc:
        yield svc


@pytest.fixture
def free_port() -> int:
    return ports.free_port()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis prefix of this test's own; its keys (quota counters) are deleted after it."""
    require_service("Redis")
    import redis.asyncio as aioredis

    prefix = f"ephemail-events-test-{secrets.token_hex(4)}"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
