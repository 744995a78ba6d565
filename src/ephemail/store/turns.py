"""Whose turn it is to write the SQLite file, across the worker processes of one node.

SQLite lets one writer at a time in and makes the others poll: its busy handler sleeps 1, 2,
5, 10 … ms between tries, so two group-commit writers contending for the file spent most of
their time asleep and two workers stored no more mail than one. A kernel file lock hands the
turn over the moment it is released, and the waiting batch grows meanwhile.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class WriteTurn:
    """An exclusive `flock` on a file beside the database; blocking, so take it off the loop."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def __enter__(self) -> WriteTurn:
        fcntl.flock(self._open(), fcntl.LOCK_EX)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
