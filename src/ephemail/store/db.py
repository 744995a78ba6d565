"""Engines and migrations for SQLite (embedded default) and PostgreSQL (many nodes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ephemail.store.sqlite_setup import BUSY_TIMEOUT_MS, sqlite_pragmas

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration's revision; a test holds it to the one alembic finds.
SCHEMA_HEAD = "0007_listing_index"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for an in-memory or URI-style database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def private_sqlite_file(url: str) -> None:
    """Create a SQLite database file (and its directory) for the service's user only.

    SQLite makes its -wal and -shm files with the database file's mode, so 0600 here keeps
    all three private; an existing file keeps the mode its operator gave it.
    """
    path = _sqlite_file(url)
    if path is None:
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_engine(url: str, *, synchronous: str = "FULL", pool_size: int = 10) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection.

    WAL lets readers run beside the one writer; FULL sync makes a commit survive power loss,
    and the group-commit writer pays that fsync once per batch rather than per message.
    """
    if is_sqlite(url):
        private_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _install_sqlite_pragmas(engine, synchronous)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _install_sqlite_pragmas(engine: AsyncEngine, synchronous: str) -> None:
    pragmas = sqlite_pragmas(synchronous)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call on every start and from many workers."""
    if is_sqlite(url):
        if revision == "head" and sqlite_schema_is_current(url):
            return
        private_sqlite_file(url)
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def sqlite_schema_is_current(url: str) -> bool:
    """Whether a SQLite file already has the newest schema, asked without alembic.

    Every admin command brings the schema up to date first; importing alembic to learn
    there is nothing to do was a fifth of such a command's time. Anything unexpected
    (no file, no version table, another version) leaves the answer to alembic.
    """
    path = _sqlite_file(url)
    if path is None or not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)) as db:
            versions = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return False
    return versions == [(SCHEMA_HEAD,)]


async def migrate_async(url: str) -> None:
    await asyncio.to_thread(migrate, url)
