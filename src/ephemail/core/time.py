"""The one clock: UTC epoch seconds, and the contract's two time formats."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_epoch() -> int:
    return int(time.time())


def iso_utc(epoch: int) -> str:
    """`2026-06-28T11:06:52+00:00`, as mailbox times are written."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def received_at(epoch: int) -> str:
    """`2026-06-28 10:56:52` (UTC), as message times are written."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
