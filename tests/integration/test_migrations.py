"""Migrations are all or nothing: a crash mid-way leaves a database that still starts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from ephemail.store.db import alembic_config, migrate
from ephemail.store.schema import metadata


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_failure_half_way_leaves_no_table_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{path}"
    from alembic.operations import Operations

    real = Operations.create_table
    made: list[str] = []

    def create_then_die(self: Operations, name: str, *args: object, **kwargs: object) -> object:
        if len(made) == 3:
            raise KeyboardInterrupt("simulated kill in the middle of the first migration")
        made.append(name)
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(Operations, "create_table", create_then_die)
    with pytest.raises(KeyboardInterrupt):
        migrate(url)
    assert len(made) == 3
    assert tables(path) <= {"alembic_version"}  # the three tables were rolled back
    monkeypatch.undo()
    migrate(url)  # and the next start just works
    assert {"users", "mailboxes", "messages", "message_raw", "quota_counters"} <= tables(path)


def test_upgrade_is_idempotent_and_downgrade_works(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    migrate(url)
    migrate(url)
    command.downgrade(alembic_config(url), "base")
    assert tables(tmp_path / "db.sqlite") == {"alembic_version"}
    migrate(url)
    assert "messages" in tables(tmp_path / "db.sqlite")


async def test_postgresql_migrates_to_the_head_with_every_table(pg_url: str) -> None:
    await asyncio.to_thread(migrate, pg_url)
    await asyncio.to_thread(migrate, pg_url)  # a second start finds nothing to do
    head = ScriptDirectory.from_config(alembic_config(pg_url)).get_current_head()
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        found = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        version = await conn.fetchval("SELECT version_num FROM alembic_version")
    finally:
        await conn.close()
    assert found == set(metadata.tables) | {"alembic_version"}
    assert version == head
