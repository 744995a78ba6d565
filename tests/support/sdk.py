"""The SDK's two clients behind one blocking face, so one test body checks both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ephemail.client import AsyncClient, Client


class BlockingAsync:
    """An `AsyncClient` whose every method is run to completion on a loop of its own: the
    test calls it like a `Client`, but each call goes through the asyncio client."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self.client = self._runner.run(self._make(*args, **kwargs))

    @staticmethod
    async def _make(*args: Any, **kwargs: Any) -> AsyncClient:
        return AsyncClient(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute
        return lambda *a, **k: self._settle(attribute(*a, **k))

    def _settle(self, result: Any) -> Any:
        """A coroutine's value; an async iterator as a blocking one."""
        return (
            self._iterate(result) if isinstance(result, AsyncIterator) else self._runner.run(result)
        )

    def _iterate(self, items: AsyncIterator[Any]) -> Iterator[Any]:
        async def step() -> Any:
            return await anext(items)

        while True:
            try:
                yield self._runner.run(step())
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self._runner.run(self.client.aclose())
        self._runner.close()


def make_client(kind: str, *args: Any, **kwargs: Any) -> Client | BlockingAsync:
    """`kind` "sync": a `Client`; "async": an `AsyncClient` driven through BlockingAsync."""
    return Client(*args, **kwargs) if kind == "sync" else BlockingAsync(*args, **kwargs)
