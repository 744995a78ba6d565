"""Unguessable identifiers: message ids, random mailbox usernames, mailbox life secrets."""

from __future__ import annotations

import secrets
import string
import time

BASE62 = string.digits + string.ascii_letters
MESSAGE_ID_LENGTH = 46
_TIME_CHARS = 8  # milliseconds since 1970 in base62: enough until the year 8800
RANDOM_CHARS = MESSAGE_ID_LENGTH - _TIME_CHARS
_USERNAME_ALPHABET = string.ascii_lowercase + string.digits


# Bytes 0..247 map evenly onto the 62 characters (4 each); 248..255 are dropped, so every
# character is equally likely. One table lookup per byte instead of a call per character.
_TO_BASE62 = bytes(BASE62.encode()[b % 62] for b in range(248)) + bytes(8)
_DROPPED = bytes(range(248, 256))


def new_message_id(now_ms: int | None = None) -> str:
    """46 base62 characters: the time in milliseconds (8), then 38 random (~226 bits).

    Random, ids cannot be guessed or enumerated; time first, a new id sorts after the ones
    before it, so storing it touches the last pages of the id indexes instead of a random
    page of each per message (a quarter of the pages a commit of received mail wrote, and
    more as a database grows past its cache). The time is no secret: the message shows it.
    """
    when = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    prefix = ""
    for _ in range(_TIME_CHARS):
        when, digit = divmod(when, 62)
        prefix = BASE62[digit] + prefix
    chars = b""
    while len(chars) < RANDOM_CHARS:
        chars += secrets.token_bytes(48).translate(_TO_BASE62, _DROPPED)
    return prefix + chars[:RANDOM_CHARS].decode()


_BASE62_CHARS = frozenset(BASE62)


def is_message_id(value: str) -> bool:
    """46 base62 characters (one set operation: every message read checks its id)."""
    return len(value) == MESSAGE_ID_LENGTH and _BASE62_CHARS.issuperset(value)


def new_username(length: int = 12) -> str:
    """Lowercase letters and digits, starting with a letter; 12 chars ≈ 62 bits."""
    first = secrets.choice(string.ascii_lowercase)
    return first + "".join(secrets.choice(_USERNAME_ALPHABET) for _ in range(length - 1))


def new_life_secret() -> str:
    """128 random bits as 32 hex characters: names one life of a mailbox, from its creation
    or a rename to its next rename, delete or expiry (email tokens seal it)."""
    return secrets.token_hex(16)
