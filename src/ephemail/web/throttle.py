"""Sign-in throttling: failed attempts per address and per client, in bounded memory.

A sliding window of failure times per key; past the limit, sign-in is refused without
checking the password, for addresses with and without an account alike. Each table keeps at
most `max_keys` keys (the oldest go first), so a flood of made-up addresses costs a bounded
amount of memory and can only push out other made-up ones as fast as it makes them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class _Window:
    limit: int
    seconds: float
    max_keys: int
    hits: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def _live(self, key: str, now: float) -> deque[float] | None:
        times = self.hits.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.seconds:
            times.popleft()
        if not times:
            del self.hits[key]
            return None
        return times

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        times = self._live(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.seconds - now)

    def add(self, key: str, now: float) -> None:
        times = self._live(key, now)
        if times is None:
            times = self.hits[key] = deque(maxlen=self.limit)
            while len(self.hits) > self.max_keys:
                self.hits.popitem(last=False)
        else:
            self.hits.move_to_end(key)
        times.append(now)


class SignInThrottle:
    def __init__(
        self,
        per_address: int = 5,
        per_client: int = 20,
        window: float = 900.0,
        max_keys: int = 100_000,
    ) -> None:
        self._address = _Window(per_address, window, max_keys)
        self._client = _Window(per_client, window, max_keys)

    def wait_minutes(self, address: str, client: str) -> int:
        """Whole minutes to wait before another try (0: go ahead)."""
        now = time.monotonic()
        wait = max(self._address.wait(address.lower(), now), self._client.wait(client, now))
        return math.ceil(wait / 60) if wait > 0 else 0

    def failed(self, address: str, client: str) -> None:
        now = time.monotonic()
        self._address.add(address.lower(), now)
        self._client.add(client, now)

    def succeeded(self, address: str) -> None:
        """A right password clears the address's failures (not the client's)."""
        self._address.hits.pop(address.lower(), None)
