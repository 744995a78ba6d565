"""Stopping a background task: cancel it, then wait until it has really ended, so that a
close() returns only once nothing of the task runs any more."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task`, if there is one, and wait for it; its cancellation is not an error."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
