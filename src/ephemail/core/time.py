"""The one clock: UTC epoch seconds, and the contract's two time formats."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime


def now_epoch() -> int:
    return int(time.time())


@functools.lru_cache(maxsize=65536)
def iso_utc(epoch: int) -> str:
    """`2026-06-28T11:06:52+00:00`, as mailbox times are written."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@functools.lru_cache(maxsize=65536)
def received_at(epoch: int) -> str:
    """`2026-06-28 10:56:52` (UTC), as message times are written.

    Cached: a listing formats the same few instants over and over, and formatting showed up
    as a tenth of the list endpoint's time in profiles.
    """
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))
