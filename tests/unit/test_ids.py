"""Message ids: 46 base62 characters, unique, every character equally likely."""

from __future__ import annotations

from collections import Counter

from ephemail.core.ids import BASE62, is_message_id, new_message_id, new_username


def test_ids_are_46_base62_characters_and_unique() -> None:
    ids = [new_message_id() for _ in range(5000)]
    assert all(len(i) == 46 and is_message_id(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_every_character_is_about_equally_likely() -> None:
    counts = Counter("".join(new_message_id() for _ in range(4000)))  # 184,000 characters
    assert set(counts) == set(BASE62)
    expected = 184_000 / 62
    assert all(abs(n - expected) < expected * 0.15 for n in counts.values()), counts


def test_random_usernames_are_lowercase_alphanumerics_starting_with_a_letter() -> None:
    names = {new_username() for _ in range(1000)}
    assert len(names) == 1000
    assert all(n[0].isalpha() and n.isalnum() and n == n.lower() for n in names)


def test_anything_but_46_base62_characters_is_not_a_message_id() -> None:
    good = new_message_id()
    assert is_message_id(good)
    for bad in ("", good[:-1], good + "a", good[:-1] + "-", "/" + good[1:], good[:-1] + "é"):
        assert not is_message_id(bad), bad
