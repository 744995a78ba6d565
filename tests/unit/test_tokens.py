"""email_token: opens its own mailbox only, and cannot be forged or altered."""

from __future__ import annotations

import base64

from ephemail.core.tokens import TokenCodec


def test_round_trip_names_the_mailbox() -> None:
    codec = TokenCodec("secret")
    token = codec.seal(42, "box@ephemail.test")
    assert codec.open(token) == (42, "box@ephemail.test")


def test_tokens_differ_each_time_and_hide_the_address() -> None:
    codec = TokenCodec("secret")
    first, second = codec.seal(1, "box@ephemail.test"), codec.seal(1, "box@ephemail.test")
    assert first != second
    assert b"box" not in base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))


def test_another_secret_cannot_open_it() -> None:
    token = TokenCodec("secret").seal(1, "box@ephemail.test")
    assert TokenCodec("other").open(token) is None


def test_every_single_character_change_is_rejected() -> None:
    codec = TokenCodec("secret")
    token = codec.seal(7, "box@ephemail.test")
    alphabet = "AbZ0_-"
    for i in range(len(token)):
        for replacement in alphabet:
            if replacement == token[i]:
                continue
            tampered = token[:i] + replacement + token[i + 1 :]
            opened = codec.open(tampered)
            # Changing only the unused low bits of the last base64 char can decode the same bytes.
            assert opened is None or opened == (7, "box@ephemail.test")


def test_garbage_is_rejected() -> None:
    codec = TokenCodec("secret")
    for value in ["", "x", "!!!!", "A" * 2000, "AQ" * 30]:
        assert codec.open(value) is None
