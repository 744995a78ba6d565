"""Message ids: 46 base62 characters, unique, unguessable, in the order they were made."""

from __future__ import annotations

import time
from collections import Counter

from ephemail.core.ids import (
    BASE62,
    RANDOM_CHARS,
    is_message_id,
    new_message_id,
    new_username,
)


def test_ids_are_46_base62_characters_and_unique() -> None:
    ids = [new_message_id() for _ in range(5000)]
    assert all(len(i) == 46 and is_message_id(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_every_character_of_the_random_part_is_about_equally_likely() -> None:
    random_parts = "".join(new_message_id()[-RANDOM_CHARS:] for _ in range(4000))
    counts = Counter(random_parts)
    assert RANDOM_CHARS >= 38  # over 220 random bits
    assert set(counts) == set(BASE62)
    expected = len(random_parts) / 62
    assert all(abs(n - expected) < expected * 0.15 for n in counts.values()), counts


def test_ids_of_the_same_millisecond_share_only_the_time() -> None:
    ids = [new_message_id(1_780_000_000_000) for _ in range(1000)]
    assert len({i[:-RANDOM_CHARS] for i in ids}) == 1
    assert len({i[-RANDOM_CHARS:] for i in ids}) == 1000


def test_an_id_made_later_sorts_after_one_made_earlier() -> None:
    # Byte order, as the database's indexes compare them: a new message's id goes at the
    # end of the id index instead of on a random page of it.
    times = [0, 1, 61, 62, 3843, 1_780_000_000_000, 1_780_000_000_001, 62**8 - 1]
    ids = [new_message_id(t) for t in times]
    assert ids == sorted(ids) and all(is_message_id(i) for i in ids)
    now = [new_message_id() for _ in range(3)]
    time.sleep(0.002)
    assert all(later > earlier for later in [new_message_id()] for earlier in now)


def test_random_usernames_are_lowercase_alphanumerics_starting_with_a_letter() -> None:
    names = {new_username() for _ in range(1000)}
    assert len(names) == 1000
    assert all(n[0].isalpha() and n.isalnum() and n == n.lower() for n in names)


def test_anything_but_46_base62_characters_is_not_a_message_id() -> None:
    good = new_message_id()
    assert is_message_id(good)
    for bad in ("", good[:-1], good + "a", good[:-1] + "-", "/" + good[1:], good[:-1] + "é"):
        assert not is_message_id(bad), bad
