"""Stopping a background task: cancel it, then wait until it has really ended, so that a
close() returns only once nothing of the task runs any more; and the write-behind loop the
counting stores share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task`, if there is one, and wait for it; its cancellation is not an error."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def flush_every(
    seconds: float, flush: Callable[[], Awaitable[None]], log: logging.Logger, failed: str
) -> None:
    """Write-behind: run `flush` every `seconds` until cancelled. A failed round is logged
    with `failed` and not raised, so the next round retries what it kept."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await flush()
        except Exception:
            log.exception(failed)


async def stop_then_flush(
    task: asyncio.Task[Any] | None,
    flush: Callable[[], Awaitable[None]],
    log: logging.Logger,
    failed: str,
) -> None:
    """Stop a write-behind loop, then write what is left; a failure is logged with `failed`
    and not raised, so a shutdown goes on to close what follows."""
    await cancel_and_wait(task)
    try:
        await flush()
    except Exception:
        log.exception(failed)
