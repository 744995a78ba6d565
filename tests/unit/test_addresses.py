"""Address rules: what reaches a mailbox and which usernames are allowed."""

from __future__ import annotations

import pytest

from ephemail.core.addresses import (
    AddressError,
    delivery_address,
    normalise_address,
    validate_username,
)


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ("Box@Ephemail.Test", "box@ephemail.test"),
        ("box+news@ephemail.test", "box@ephemail.test"),
        ("<box+a+b@ephemail.test>", "box@ephemail.test"),
        ("box@ephemail.test.", "box@ephemail.test"),
        ("no-at-sign", None),
        ("a@b@ephemail.test", None),
        ("+tag@ephemail.test", None),
        ("box@-bad-.test", None),
        ("bad..dots@ephemail.test", None),
    ],
)
def test_recipient_reaches_its_mailbox(recipient: str, expected: str | None) -> None:
    assert delivery_address(recipient) == expected


@pytest.mark.parametrize("name", ["a", "demo123", "first.last", "a_b-c", "x" * 64, "UPPER"])
def test_valid_usernames_are_kept_lowercase(name: str) -> None:
    assert validate_username(name) == name.lower()


@pytest.mark.parametrize(
    "name", ["", ".lead", "trail.", "two..dots", "x" * 65, "sp ace", "ü", "a/b"]
)
def test_invalid_usernames_are_refused(name: str) -> None:
    with pytest.raises(AddressError):
        validate_username(name)


def test_normalise_address_refuses_garbage() -> None:
    assert normalise_address(" Demo@Example.COM ") == "demo@example.com"
    with pytest.raises(AddressError):
        normalise_address("not an address")
