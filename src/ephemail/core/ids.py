"""Unguessable identifiers: message ids and random mailbox usernames."""

from __future__ import annotations

import secrets
import string

BASE62 = string.digits + string.ascii_letters
MESSAGE_ID_LENGTH = 46
_USERNAME_ALPHABET = string.ascii_lowercase + string.digits


def new_message_id() -> str:
    """46 base62 characters: ~274 bits, so ids cannot be guessed or enumerated."""
    return "".join(secrets.choice(BASE62) for _ in range(MESSAGE_ID_LENGTH))


def is_message_id(value: str) -> bool:
    return len(value) == MESSAGE_ID_LENGTH and all(c in BASE62 for c in value)


def new_username(length: int = 12) -> str:
    """Lowercase letters and digits, starting with a letter; 12 chars ≈ 62 bits."""
    first = secrets.choice(string.ascii_lowercase)
    return first + "".join(secrets.choice(_USERNAME_ALPHABET) for _ in range(length - 1))
