"""Bearer keys → users, with a short cache so the hot path does not hit the database.

The cache holds an entry for `ttl` seconds at most, so a revoked key (or a changed plan)
takes effect everywhere within that window, without any cross-node message. Under load, an
entry is renewed in the background before it runs out, and one lookup per key is in flight at
a time: otherwise every request that arrives while a busy key's entry is missing queries the
database at once, and the whole pipeline stalls every `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ephemail.core.periods import period_bounds, utcnow
from ephemail.core.singleflight import SingleFlight
from ephemail.store.accounts import get_user_by_id, hash_key, user_for_key
from ephemail.store.models import User


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # YYYY-MM in the account's zone
    reset_iso: str
    reset_epoch: float


_Fetch = Callable[[AsyncConnection], Awaitable[User | None]]


@dataclass(slots=True)
class _Entry:
    user: User | None
    expires: float
    renew_after: float
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
        # Keyed by (digest, generation): a lookup begun before forget/clear is shared only
        # with requests that arrived before it too, never with one that comes after.
        self._loading: SingleFlight[tuple[str, int], _Entry] = SingleFlight()
        self._renewals: set[asyncio.Task[_Entry]] = set()
        self._generation = 0  # bumped by forget/clear: a lookup begun before must not refill

    async def user(self, key: str) -> tuple[User, Period] | None:
        """The live user of a key and the quota period now, or None (unknown, revoked, disabled)."""
        if not key or len(key) > 256:
            return None
        return await self._cached(hash_key(key), lambda conn: user_for_key(conn, key))

    async def owner(self, user_id: int) -> tuple[User, Period] | None:
        """The account behind an email token's mailbox, cached for the same window as keys.

        So a disabled account or a changed plan reaches token requests exactly as fast as
        keyed ones. Slots are `user:<id>`, which no key digest (hex) can equal.
        """
        return await self._cached(f"user:{user_id}", lambda conn: get_user_by_id(conn, user_id))

    async def _cached(self, slot: str, fetch: _Fetch) -> tuple[User, Period] | None:
        now = time.monotonic()
        entry = self._cache.get(slot)
        if entry is None or entry.expires <= now:
            entry = await self._load(slot, fetch)
        elif entry.renew_after <= now and not self._loading.busy((slot, self._generation)):
            task = asyncio.create_task(self._load(slot, fetch))
            self._renewals.add(task)
            task.add_done_callback(self._renewal_done)
        if entry.user is None:
            return None
        period = entry.period
        if period is None or period.reset_epoch <= time.time():
            period = current_period(entry.user.timezone)
            entry.period = period
        return entry.user, period

    async def _load(self, slot: str, fetch: _Fetch) -> _Entry:
        """One database lookup per slot at a time; concurrent callers share its answer."""
        generation = self._generation
        return await self._loading.run(
            (slot, generation), lambda: self._lookup(slot, fetch, generation)
        )

    async def _lookup(self, slot: str, fetch: _Fetch, generation: int) -> _Entry:
        loaded_at = time.monotonic()
        async with self._engine.connect() as conn:
            user = await fetch(conn)
        entry = _Entry(user, loaded_at + self._ttl, loaded_at + self._ttl * 0.6, None)
        if self._ttl > 0 and generation == self._generation:
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[slot] = entry
        return entry

    def _renewal_done(self, task: asyncio.Task[_Entry]) -> None:
        self._renewals.discard(task)
        if not task.cancelled():
            task.exception()  # a failed renewal leaves the entry to run out; the next miss retries

    def forget(self, key_hash: str) -> None:
        self._generation += 1
        self._cache.pop(key_hash, None)

    def clear(self) -> None:
        self._generation += 1
        self._cache.clear()
