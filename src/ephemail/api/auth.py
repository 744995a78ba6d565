"""Bearer keys → users, with a short cache so the hot path does not hit the database.

The cache holds an entry for `ttl` seconds at most, so a revoked key (or a changed plan, or a
disabled account) takes effect everywhere within that window, without any cross-node message.
Under load, an entry is renewed in the background before it runs out, and one lookup per key
is in flight at a time: otherwise every request that arrives while a busy key's entry is
missing queries the database at once, and the whole pipeline stalls every `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ephemail.core.periods import Period, current_period
from ephemail.core.singleflight import SingleFlight
from ephemail.store.accounts import get_user_by_id, hash_key, user_for_key
from ephemail.store.models import User

_Arg = TypeVar("_Arg")
_Fetch = Callable[[AsyncConnection, _Arg], Awaitable[User | None]]


@dataclass(slots=True)
class _Entry:
    user: User | None
    expires: float
    renew_after: float
    period: Period | None


class Authenticator:
    def __init__(
        self,
        engine: AsyncEngine,
        ttl: float = 5.0,
        max_entries: int = 100_000,
        key_seen: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        # Told the digest of a live key each time the cache (re)loads it: "last used" to
        # within `ttl`, at no cost per request.
        self._key_seen = key_seen
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[str, _Entry] = {}
        # Keyed by (digest, generation): a lookup begun before forget/clear is shared only
        # with requests that arrived before it too, never with one that comes after.
        self._loading: SingleFlight[tuple[str, int], _Entry] = SingleFlight()
        self._renewals: set[asyncio.Task[_Entry]] = set()
        self._generation = 0  # bumped by forget/clear: a lookup begun before must not refill

    async def user(self, key: str) -> tuple[User, Period] | None:
        """The user of a live key and the quota period now; None for an unknown or revoked key.

        A disabled user is returned like any other: the gate answers them 403, with their
        counters, rather than 401.
        """
        if not key or len(key) > 256:
            return None
        digest = hash_key(key)  # the cache slot and the stored column both hold this
        return await self._cached(digest, self._user_for_key, digest)

    async def _user_for_key(self, conn: AsyncConnection, digest: str) -> User | None:
        user = await user_for_key(conn, digest)
        if user is not None and self._key_seen is not None:
            self._key_seen(digest)
        return user

    async def owner(self, user_id: int) -> tuple[User, Period] | None:
        """The account behind an email token's mailbox, cached for the same window as keys.

        So a disabled account or a changed plan reaches token requests exactly as fast as
        keyed ones. Slots are `user:<id>`, which no key digest (hex) can equal.
        """
        return await self._cached(f"user:{user_id}", get_user_by_id, user_id)

    async def _cached(
        self, slot: str, fetch: _Fetch[_Arg], arg: _Arg
    ) -> tuple[User, Period] | None:
        """`fetch(conn, arg)` loads the slot; passed apart so a hit allocates no closure."""
        now = time.monotonic()
        entry = self._cache.get(slot)
        if entry is None or entry.expires <= now:
            entry = await self._load(slot, fetch, arg)
        elif entry.renew_after <= now and not self._loading.busy((slot, self._generation)):
            task = asyncio.create_task(self._load(slot, fetch, arg))
            self._renewals.add(task)
            task.add_done_callback(self._renewal_done)
        if entry.user is None:
            return None
        period = entry.period
        if period is None or period.reset_epoch <= time.time():
            period = current_period(entry.user.timezone)
            entry.period = period
        return entry.user, period

    async def _load(self, slot: str, fetch: _Fetch[_Arg], arg: _Arg) -> _Entry:
        """One database lookup per slot at a time; concurrent callers share its answer."""
        generation = self._generation
        return await self._loading.run(
            (slot, generation), lambda: self._lookup(slot, fetch, arg, generation)
        )

    async def _lookup(self, slot: str, fetch: _Fetch[_Arg], arg: _Arg, generation: int) -> _Entry:
        loaded_at = time.monotonic()
        async with self._engine.connect() as conn:
            user = await fetch(conn, arg)
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
