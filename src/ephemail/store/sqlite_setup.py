"""The pragmas every SQLite connection of the service runs with, in one place, and where a
database URL's SQLite file is.

Kept free of SQLAlchemy so the commit process can use it without importing an ORM stack
(SQLAlchemy takes a second to import on a loaded machine; the commit process starts on
every service start).
"""

from __future__ import annotations

from urllib.parse import unquote

BUSY_TIMEOUT_MS = 30_000  # a writer waits for another's transaction instead of failing
READER_BUSY_TIMEOUT_MS = 5_000  # a hot read waits less: its caller is answering a client
SYNCHRONOUS_MODES = {"FULL", "NORMAL", "EXTRA"}


def sqlite_pragmas(synchronous: str) -> list[str]:
    """WAL lets readers run beside the one writer; FULL sync makes a commit survive power loss."""
    mode = synchronous.upper() if synchronous.upper() in SYNCHRONOUS_MODES else "FULL"
    return [
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={mode}",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    ]


def reader_pragmas() -> list[str]:
    """The hot reads' own connection: it only ever reads (WAL is the writers' to set)."""
    return [f"PRAGMA busy_timeout={READER_BUSY_TIMEOUT_MS}", "PRAGMA query_only=1"]


def migration_pragmas() -> list[str]:
    """Migrations: WAL and the writers' patience, but foreign keys left off, as table
    rebuilds need them off (migration 0002 checks)."""
    return ["PRAGMA journal_mode=WAL", f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"]


def sqlite_database(url: str) -> str | None:
    """The database of a SQLite URL as SQLAlchemy's `make_url(url).database` reads it ("" when
    the URL names none); None for any other backend."""
    name, sep, rest = url.partition("://")
    if not sep or name.partition("+")[0] != "sqlite":
        return None
    _, slash, database = rest.partition("/")
    return unquote(database.partition("?")[0]) if slash else ""
