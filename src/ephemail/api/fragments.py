"""Serialised message objects, kept between requests.

A stored message never changes except for its `is_seen` flag, so the JSON of one message
object is cached under (base URL, id, is_seen) and can never go stale: a listing reads only
the ids and flags from the database (always fresh, so deletes, marks and expiry show at
once, on every worker) and stitches the cached objects together. Bounded by total bytes.
"""

from __future__ import annotations

from collections import OrderedDict

FragmentKey = tuple[str, str, bool]
_ENTRY_OVERHEAD = 200  # bytes per entry beyond the value: key tuple, id string, dict slot


class FragmentCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._items: OrderedDict[FragmentKey, bytes] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    def get(self, key: FragmentKey) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def get_listed(self, base: str, versions: list[tuple[str, bool]]) -> list[bytes | None]:
        """`get` for each (id, is_seen) of a listing under `base`."""
        return [self.get((base, mid, seen)) for mid, seen in versions]

    def put(self, key: FragmentKey, value: bytes) -> None:
        if len(value) > self._max // 16:  # a huge message would evict everything else
            return
        # orjson's bytes keep their whole output buffer (~8 KiB for a 700-byte object): a copy
        # is exactly as long as its content, so the budget below is what memory really holds.
        value = bytes(memoryview(value))
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old) + _ENTRY_OVERHEAD
        self._items[key] = value
        self._bytes += len(value) + _ENTRY_OVERHEAD
        while self._bytes > self._max:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= len(evicted) + _ENTRY_OVERHEAD

    def __len__(self) -> int:
        return len(self._items)
