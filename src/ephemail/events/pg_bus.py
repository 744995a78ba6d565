"""PostgreSQL LISTEN/NOTIFY: without Redis, the database itself carries events between nodes.

One asyncpg connection per process listens (asyncpg calls the listener as notifications
arrive); publishing runs `pg_notify` on a second one, so a NOTIFY never waits behind the
listener. PostgreSQL delivers a notification to every listening session, the sender's too.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from ephemail.events.bus import EventBus
from ephemail.events.model import Event


def asyncpg_dsn(url: str) -> str:
    """SQLAlchemy's `postgresql+asyncpg://` URL as asyncpg wants it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgNotifyBus(EventBus):
    name = "postgresql"

    def __init__(self, url: str, channel: str = "ephemail_events") -> None:
        super().__init__()
        self.channel = channel
        self._dsn = asyncpg_dsn(url)
        self._listen: Any = None
        self._send: Any = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> None:
        self._listen = await asyncpg.connect(self._dsn)
        await self._listen.add_listener(self.channel, self._on_notify)
        self._send = await asyncpg.connect(self._dsn)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._dispatch_raw(payload)

    async def publish(self, event: Event) -> None:
        async with self._lock:  # one asyncpg connection runs one query at a time
            await self._send.execute(
                "SELECT pg_notify($1, $2)", self.channel, event.encode().decode()
            )

    async def _disconnect(self) -> None:
        for conn in (self._listen, self._send):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
