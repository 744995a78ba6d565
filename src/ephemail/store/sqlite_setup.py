"""The pragmas every SQLite connection of the service runs with, in one place.

Kept free of SQLAlchemy so the commit process can use it without importing an ORM stack.
"""

from __future__ import annotations

BUSY_TIMEOUT_MS = 30_000  # a writer waits for another's transaction instead of failing
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
