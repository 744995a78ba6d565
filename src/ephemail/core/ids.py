"""Unguessable identifiers: message ids, random mailbox usernames, mailbox life secrets."""

from __future__ import annotations

import secrets
import string

BASE62 = string.digits + string.ascii_letters
MESSAGE_ID_LENGTH = 46
_USERNAME_ALPHABET = string.ascii_lowercase + string.digits


# Bytes 0..247 map evenly onto the 62 characters (4 each); 248..255 are dropped, so every
# character is equally likely. One table lookup per byte instead of a call per character.
_TO_BASE62 = bytes(BASE62.encode()[b % 62] for b in range(248)) + bytes(8)
_DROPPED = bytes(range(248, 256))


def new_message_id() -> str:
    """46 base62 characters: ~274 bits, so ids cannot be guessed or enumerated."""
    chars = b""
    while len(chars) < MESSAGE_ID_LENGTH:
        chars += secrets.token_bytes(64).translate(_TO_BASE62, _DROPPED)
    return chars[:MESSAGE_ID_LENGTH].decode()


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
