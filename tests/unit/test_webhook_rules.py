"""The webhook rules without I/O: which addresses a receiver may have, URLs refused, the
signature a receiver checks, and the backoff's bounds."""

from __future__ import annotations

import ipaddress

import pytest

from ephemail.webhooks.dispatcher import backoff
from ephemail.webhooks.guard import Refused, forbidden, parse_target
from ephemail.webhooks.signing import signature, verify


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.7", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as the IPv4 address
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_forbidden_addresses_say_why(address: str, why: str) -> None:
    reason = forbidden(ipaddress.ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/",
        "javascript:alert(1)",
        "http:///nohost",
        "https://u:p@example.org/",
        "http://example.org:99999/",
        "http://" + "a" * 3000,
    ],
)
def test_urls_that_cannot_be_receivers(url: str) -> None:
    with pytest.raises(Refused):
        parse_target(url)


def test_a_target_keeps_path_and_query_and_defaults_the_port() -> None:
    target = parse_target("https://Hooks.Example.org/in?x=1#frag")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.org",
        443,
        "/in?x=1",
    )
    assert parse_target("http://[2606:4700::1]:8080").path == "/"


def test_a_signature_verifies_only_for_its_secret_body_and_time() -> None:
    body = b'{"id":"evt_1"}'
    header = signature("whsec_a", 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("whsec_a", header, body, now=1_800_000_100)
    assert not verify("whsec_b", header, body, now=1_800_000_100)
    assert not verify("whsec_a", header, body + b" ", now=1_800_000_100)
    assert not verify("whsec_a", header, body, now=1_800_000_000 + 301)  # a replay
    assert not verify("whsec_a", "garbage", body, now=1_800_000_000)


def test_backoff_stays_within_its_full_jitter_bounds() -> None:
    for attempt in range(1, 60):
        ceiling = min(3600.0, 5.0 * 2 ** (attempt - 1))
        assert all(0 <= backoff(attempt, 5.0, 3600.0) <= ceiling for _ in range(50))
