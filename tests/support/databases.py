"""Machine services for tests: a fresh PostgreSQL database per test, and Redis.

A service that is missing skips its tests on a laptop and fails them under CI.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections import Counter
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.support.ci import ON_CI

PG_ADMIN_DSN = os.environ.get(
    "EPHEMAIL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("EPHEMAIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# What each machine service is, where the suite looks for it, and how to make it available.
_SERVICES = {
    "PostgreSQL": (
        PG_ADMIN_DSN,
        "start PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres, "
        "or set EPHEMAIL_TEST_PG_DSN=postgresql://USER@HOST:PORT/postgres",
    ),
    "Redis": (
        REDIS_URL,
        "start Redis on 127.0.0.1:6379 (redis-server --port 6379), "
        "or set EPHEMAIL_TEST_REDIS_URL=redis://HOST:PORT/0",
    ),
}
_reachable: dict[str, bool] = {}
_skipped: Counter[str] = Counter()


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 1):
            return True
    except OSError:
        return False


def require_service(name: str) -> None:
    """Skip the test when a machine service is missing, except under CI, where it must be
    there: a laptop runs what it can, CI proves everything."""
    url, _ = _SERVICES[name]
    if name not in _reachable:
        _reachable[name] = _listening(url)
    if _reachable[name]:
        return
    if ON_CI:
        pytest.fail(f"{name} is not reachable at {url}, and CI must run every test")
    _skipped[name] += 1
    pytest.skip(f"{name} is not reachable at {url}")


@contextlib.asynccontextmanager
async def temporary_pg_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    require_service("PostgreSQL")
    name = f"ephemail_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlsplit(PG_ADMIN_DSN)._replace(scheme="postgresql+asyncpg", path=f"/{name}").geturl()
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def skipped_service_notes() -> list[str]:
    """One line per missing machine service: how many tests it skipped and how to run them."""
    return [
        f"{count} test(s) skipped because {name} is not running here; to run them: "
        f"{_SERVICES[name][1]}"
        for name, count in sorted(_skipped.items())
    ]
