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
                raise ConnectionError("no longer subscribed")  # listen() ends unsubscribed
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis event subscription lost (%s); subscribing again", exc)
                self.interrupt()  # readers resume from the database, missing nothing
                await self._subscribe_again()

    async def _subscribe_again(self) -> None:
        delay = 0.1
        while True:
            await asyncio.sleep(delay)  # back off between attempts to reconnect, not a poll
            try:
                await self._pubsub.subscribe(self.channel)
            except Exception as exc:
                log.warning("cannot subscribe to events yet (%s); retrying", exc)
                delay = min(delay * 2, 2.0)
                continue
            log.warning("subscribed to events again")
            self.interrupt()  # whoever resumed while we were away may have missed events
            return

    async def publish(self, event: Event) -> None:
        await self._client.publish(self.channel, event.encode())

    async def _disconnect(self) -> None:
        await cancel_and_wait(self._reader)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()
