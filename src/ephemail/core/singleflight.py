"""One run of a piece of work per key at a time; concurrent callers share its outcome.

Under load many requests want the same thing at once (a key's user, a quota counter, a
message marked seen); without this each of them would go to the database for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    def busy(self, key: K) -> bool:
        return key in self._running

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        """`work()` if nobody runs it for `key` now, else wait for that run's result or error."""
        pending = self._running.get(key)
        if pending is not None:
            return await asyncio.shield(pending)  # a waiter's cancellation must not cancel it
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await work()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: the waiters re-raise it, nobody else logs it
            raise
        finally:
            del self._running[key]
        future.set_result(result)
        return result
