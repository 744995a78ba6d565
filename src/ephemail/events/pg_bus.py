"""PostgreSQL LISTEN/NOTIFY: without Redis, the database itself carries events between nodes.

One asyncpg connection per process listens (asyncpg calls the listener as notifications
arrive); publishing runs `pg_notify` on a second one, so a NOTIFY never waits behind the
listener. PostgreSQL delivers a notification to every listening session, the sender's too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from ephemail.events.bus import EventBus
from ephemail.events.model import Event

log = logging.getLogger("ephemail.events")


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
        self._closing = False
        self._relisten: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        await self._open_listener()
        self._send = await asyncpg.connect(self._dsn)

    async def _open_listener(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        await conn.add_listener(self.channel, self._on_notify)
        conn.add_termination_listener(self._on_lost)
        self._listen = conn

    def _on_lost(self, _conn: Any) -> None:
        """The listening session ended (a restart, a killed backend): listen again. Events
        sent meanwhile are missed live; readers get them back by resuming (history.py)."""
        if self._closing:
            return
        self.interrupt()  # readers resume from the database, missing nothing
        if self._relisten is None or self._relisten.done():
            self._relisten = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                await self._open_listener()
                log.warning("listening for events again")
                self.interrupt()  # whoever resumed while we were away may have missed events
                return
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot listen for events yet (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)  # back off between attempts to reconnect
                delay = min(delay * 2, 5.0)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._dispatch_raw(payload)

    async def publish(self, event: Event) -> None:
        async with self._lock:  # one asyncpg connection runs one query at a time
            if self._send is None or self._send.is_closed():
                self._send = await asyncpg.connect(self._dsn)
            await self._send.execute(
                "SELECT pg_notify($1, $2)", self.channel, event.encode().decode()
            )

    async def _disconnect(self) -> None:
        self._closing = True
        if self._relisten is not None:
            self._relisten.cancel()
        for conn in (self._listen, self._send):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
