"""Migrations are all or nothing: a crash mid-way leaves a database that still starts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from ephemail.store.db import SCHEMA_HEAD, alembic_config, migrate, sqlite_schema_is_current
from ephemail.store.schema import metadata


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


def test_the_known_head_is_alembics_head(tmp_path: Path) -> None:
    # A new migration must move SCHEMA_HEAD too, or every command would run alembic again.
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    assert ScriptDirectory.from_config(alembic_config(url)).get_current_head() == SCHEMA_HEAD


def test_a_database_one_migration_behind_is_still_brought_to_the_head(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{path}"
    assert not sqlite_schema_is_current(url)  # no file yet
    migrate(url, "0006_webhooks")
    assert not sqlite_schema_is_current(url)
    migrate(url)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_HEAD,)]
    assert "messages" in tables(path)
    assert sqlite_schema_is_current(url)


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


# Rows a database made before ids were protected: three mailboxes, mail in two of them.
_OLD_ROWS = [
    "INSERT INTO plans VALUES (1, 'default', 1000, 3600, 10, 'free')",
    "INSERT INTO users VALUES (1, 'a@example.org', NULL, 1, 'UTC', TRUE, FALSE, 100)",
    "INSERT INTO api_keys VALUES (1, 1, '" + "f" * 64 + "', 'eph_abc', 100, NULL)",
    "INSERT INTO domains VALUES (1, 'ephemail.test', 'free', NULL, 100)",
    "INSERT INTO quota_counters VALUES (1, '2026-12', 7)",
    *(
        f"INSERT INTO mailboxes VALUES ({i}, 1, 1, 'b{i}@ephemail.test', 100, 4102444800, 1)"
        for i in (1, 2, 3)
    ),
    *(
        f"INSERT INTO messages VALUES ('{c * 46}', {i}, 1, {i}, 'b{i}@ephemail.test', "
        f"'s@example.org', 'subject {i}', 'S', 's@example.org', FALSE, 'body', 4, FALSE, 100)"
        for c, i in (("a", 1), ("b", 3))
    ),
    *(f"INSERT INTO message_raw VALUES ('{c * 46}', X'00', '{'0' * 64}')" for c in "ab"),
    "INSERT INTO attachments VALUES (1, '" + "b" * 46 + "', 0, 'f.txt', 'txt', 'text/plain', "
    "NULL, 1, X'41')",
]
_TABLES = ("plans", "users", "api_keys", "domains", "quota_counters", "mailboxes", "messages")
_TABLES += ("message_raw", "attachments")


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in _TABLES}


def test_upgrading_an_sqlite_database_keeps_its_rows_and_stops_reusing_ids(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{path}"
    migrate(url, "0001")
    with sqlite3.connect(path) as db:
        for statement in _OLD_ROWS:
            db.execute(statement)
    before = _dump(path)
    migrate(url)
    after = _dump(path)
    secrets = [row[-1] for row in after.pop("mailboxes")]
    assert all(row[6:] == (None,) for row in after["api_keys"])  # 0004: never used yet
    after["api_keys"] = [row[:6] for row in after["api_keys"]]
    # 0005: every plan's maximum lifetime is its lifetime (no extension until raised)
    assert after.pop("plans") == [(*row, row[3]) for row in before["plans"]]
    assert {t: rows for t, rows in before.items() if t not in ("mailboxes", "plans")} == after
    assert len(set(secrets)) == 3 and all(len(bytes.fromhex(s)) == 16 for s in secrets)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=ON")
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        boxes = db.execute("SELECT id, address, message_count FROM mailboxes ORDER BY id")
        assert [row[:2] for row in boxes] == [(i, f"b{i}@ephemail.test") for i in (1, 2, 3)]
        # 0005 indexed the mail already there: it is found, and leaves the index with its box
        found = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'subject'"
        assert len(db.execute(found).fetchall()) == 2
        for table in ("plans", "users", "api_keys", "domains", "mailboxes"):
            (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            assert "AUTOINCREMENT" in sql, table
        # The highest mailbox goes (its mail with it); the next one must not get its id.
        db.execute("DELETE FROM mailboxes WHERE id = 3")
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (1,)
        assert len(db.execute(found).fetchall()) == 1
        db.execute(
            "INSERT INTO mailboxes (user_id, domain_id, address, created_at, expire_at, "
            "message_count, life_secret) VALUES (1, 1, 'new@ephemail.test', 1, 2, 0, 'x')"
        )
        assert db.execute("SELECT max(id) FROM mailboxes").fetchone() == (4,)


async def test_upgrading_a_postgresql_database_gives_every_mailbox_a_secret(pg_url: str) -> None:
    await asyncio.to_thread(migrate, pg_url, "0001")
    dsn = pg_url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        for statement in _OLD_ROWS:
            await conn.execute(statement.replace("X'00'", "'\\x00'").replace("X'41'", "'\\x41'"))
        await conn.execute("SELECT setval('mailboxes_id_seq', 3)")  # as if made by the service
        await asyncio.to_thread(migrate, pg_url)
        head = ScriptDirectory.from_config(alembic_config(pg_url)).get_current_head()
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head
        searched = "SELECT count(*) FROM messages WHERE search @@ to_tsquery('simple', 'subject')"
        assert await conn.fetchval(searched) == 2
        assert await conn.fetchval("SELECT max_lifetime_seconds FROM plans") == 3600
        rows = await conn.fetch("SELECT id, address, life_secret FROM mailboxes ORDER BY id")
        assert [r["id"] for r in rows] == [1, 2, 3]
        assert len({r["life_secret"] for r in rows}) == 3
        assert await conn.fetchval("SELECT count(*) FROM messages") == 2
        await conn.execute("DELETE FROM mailboxes WHERE id = 3")
        new_id = await conn.fetchval(
            "INSERT INTO mailboxes (user_id, domain_id, address, created_at, expire_at, "
            "message_count, life_secret) VALUES (1, 1, 'new@ephemail.test', 1, 2, 0, 'x') "
            "RETURNING id"
        )
        assert new_id == 4
    finally:
        await conn.close()
