"""Redis pub/sub: every process subscribes to one channel and receives what any publishes.

redis-py's async pub/sub reads the subscription connection as messages arrive (a blocking
read, no polling); publishing goes through the ordinary connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis

from ephemail.core.tasks import cancel_and_wait
from ephemail.events.bus import EventBus
from ephemail.events.model import Event

log = logging.getLogger("ephemail.events")


class RedisBus(EventBus):
    name = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__()
        self.channel = f"{prefix}:events"
        self._client = aioredis.Redis.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        await self._pubsub.subscribe(self.channel)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") == "message":
                        self._dispatch_raw(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis event subscription lost; subscribing again")
                await asyncio.sleep(1.0)  # back off before reconnecting, not a poll
                with contextlib.suppress(Exception):
                    await self._pubsub.subscribe(self.channel)

    async def publish(self, event: Event) -> None:
        await self._client.publish(self.channel, event.encode())

    async def _disconnect(self) -> None:
        await cancel_and_wait(self._reader)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()
