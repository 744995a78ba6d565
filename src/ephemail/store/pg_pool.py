"""An asyncpg pool made on first use, for the paths that bypass SQLAlchemy on PostgreSQL
(the hot reads, the SQL quota): one statement, one round trip, no engine overhead."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import URL, make_url


def asyncpg_dsn(url: str | URL) -> str:
    """The libpq form of a SQLAlchemy URL (`postgresql+asyncpg://…` → `postgresql://…`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Given as the pool's `reset`: asyncpg still ends a transaction left open before calling
    it, and these connections set no session state, so the default reset query (RESET ALL,
    UNLISTEN *, advisory unlock, …) would be a round trip per release for nothing."""


class LazyPool:
    """Created inside the running loop at the first `get`, once however many ask at once."""

    def __init__(self, dsn: str, max_size: int) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._max_size, reset=_no_session_reset
                    )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
