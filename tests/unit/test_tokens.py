"""email_token: opens its own mailbox life only, and cannot be forged or altered."""

from __future__ import annotations

import base64
import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ephemail.core.ids import new_life_secret
from ephemail.core.tokens import TokenCodec

LIFE = new_life_secret()


def test_round_trip_names_the_mailbox_life() -> None:
    codec = TokenCodec("secret")
    token = codec.seal(42, LIFE)
    assert codec.open(token) == (42, LIFE)


def test_tokens_differ_each_time_and_hide_the_secret() -> None:
    codec = TokenCodec("secret")
    first, second = codec.seal(1, LIFE), codec.seal(1, LIFE)
    assert first != second
    raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    assert bytes.fromhex(LIFE) not in raw and LIFE.encode() not in raw


def test_another_secret_cannot_open_it() -> None:
    token = TokenCodec("secret").seal(1, LIFE)
    assert TokenCodec("other").open(token) is None


def test_a_version_1_token_naming_the_address_no_longer_opens() -> None:
    """The old tokens sealed (id, address) and came back to life when the address did."""
    import hashlib

    key = hashlib.sha256(b"email-token:secret").digest()
    nonce = os.urandom(12)
    payload = struct.pack(">Q", 1) + b"reuse1@ephemail.test"
    sealed = b"\x01" + nonce + AESGCM(key).encrypt(nonce, payload, b"ephemail-email-token-v1")
    old = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
    assert TokenCodec("secret").open(old) is None


def test_every_single_character_change_is_rejected() -> None:
    codec = TokenCodec("secret")
    token = codec.seal(7, LIFE)
    alphabet = "AbZ0_-"
    for i in range(len(token)):
        for replacement in alphabet:
            if replacement == token[i]:
                continue
            tampered = token[:i] + replacement + token[i + 1 :]
            opened = codec.open(tampered)
            # Changing only the unused low bits of the last base64 char can decode the same bytes.
            assert opened is None or opened == (7, LIFE)


def test_garbage_is_rejected() -> None:
    codec = TokenCodec("secret")
    for value in ["", "x", "!!!!", "A" * 2000, "AQ" * 30]:
        assert codec.open(value) is None
