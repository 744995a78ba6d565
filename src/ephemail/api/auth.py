"""Bearer keys → users, with a short cache so the hot path does not hit the database.

The cache holds an entry for `ttl` seconds at most, so a revoked key (or a changed plan)
takes effect everywhere within that window, without any cross-node message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.core.periods import period_bounds, utcnow
from ephemail.store.accounts import User, hash_key, user_for_key


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # YYYY-MM in the account's zone
    reset_iso: str
    reset_epoch: float


@dataclass(slots=True)
class _Entry:
    user: User | None
    expires: float
    period: Period | None


def current_period(zone_name: str) -> Period:
    start, nxt = period_bounds(utcnow(), zone_name)
    return Period(f"{start.year:04d}-{start.month:02d}", nxt.isoformat(), nxt.timestamp())


class Authenticator:
    def __init__(self, engine: AsyncEngine, ttl: float = 5.0, max_entries: int = 100_000) -> None:
        self._engine = engine
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[str, _Entry] = {}

    async def user(self, key: str) -> tuple[User, Period] | None:
        """The live user of a key and the quota period now, or None (unknown, revoked, disabled)."""
        if not key or len(key) > 256:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        entry = self._cache.get(digest)
        if entry is None or entry.expires <= now:
            async with self._engine.connect() as conn:
                user = await user_for_key(conn, key)
            if len(self._cache) >= self._max:
                self._cache.clear()
            entry = _Entry(user, now + self._ttl, None)
            if self._ttl > 0:
                self._cache[digest] = entry
        if entry.user is None:
            return None
        period = entry.period
        if period is None or period.reset_epoch <= time.time():
            period = current_period(entry.user.timezone)
            entry.period = period
        return entry.user, period

    def forget(self, key_hash: str) -> None:
        self._cache.pop(key_hash, None)

    def clear(self) -> None:
        self._cache.clear()
