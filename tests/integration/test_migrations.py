"""Migrations are all or nothing: a crash mid-way leaves a database that still starts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command

from ephemail.store.db import alembic_config, migrate


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
        return {r[0] for r in rows}  # sqlite_sequence is SQLite's own, and cannot be dropped


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


async def test_postgresql_migrates_too(pg_url: str) -> None:
    import asyncio

    await asyncio.to_thread(migrate, pg_url)
    await asyncio.to_thread(migrate, pg_url)
