"""The message JSON cache stays within its byte budget and evicts the least recent."""

from __future__ import annotations

from ephemail.api.fragments import FragmentCache


def test_evicts_least_recently_used_beyond_the_budget() -> None:
    cache = FragmentCache(max_bytes=5000)
    for i in range(20):
        cache.put(("b", str(i), False), b"x" * 50)  # 20 × (50 + 200 overhead): the budget
    assert len(cache) == 20
    assert cache.get(("b", "0", False)) is not None  # 0 becomes the most recent
    cache.put(("b", "20", False), b"y" * 50)
    assert cache.get(("b", "1", False)) is None  # the least recent went
    assert cache.get(("b", "0", False)) == b"x" * 50
    assert len(cache) == 20


def test_one_huge_object_is_not_kept() -> None:
    cache = FragmentCache(max_bytes=1000)
    cache.put(("b", "small", False), b"s" * 10)
    cache.put(("b", "huge", False), b"h" * 63)  # over a sixteenth of the budget
    assert cache.get(("b", "huge", False)) is None
    assert cache.get(("b", "small", False)) == b"s" * 10


def test_seen_flag_is_part_of_the_key() -> None:
    cache = FragmentCache()
    cache.put(("b", "m", False), b"unseen")
    assert cache.get(("b", "m", True)) is None
    cache.put(("b", "m", True), b"seen")
    assert cache.get(("b", "m", False)) == b"unseen"
    assert len(cache) == 2


def test_kept_values_hold_no_spare_buffer() -> None:
    import tracemalloc

    import orjson

    cache = FragmentCache()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(500):
        cache.put(("b", str(i), False), orjson.dumps({"content": "x" * 700, "i": i}))
    per_entry = (tracemalloc.get_traced_memory()[0] - before) / 500
    tracemalloc.stop()
    assert per_entry < 2000, per_entry  # orjson's own bytes would keep ~8 KiB each
