"""The sign-in throttle's window and its bound on memory."""

from __future__ import annotations

from ephemail.web.throttle import SignInThrottle


def test_an_address_waits_once_its_failures_fill_the_window() -> None:
    throttle = SignInThrottle(per_address=2, per_client=100, window=600)
    throttle.failed("A@example.org", "client")
    assert throttle.wait_minutes("a@example.org", "client") == 0
    throttle.failed("a@example.org", "client")
    assert throttle.wait_minutes("a@example.org", "elsewhere") == 10
    throttle.succeeded("a@example.org")
    assert throttle.wait_minutes("a@example.org", "client") == 0


def test_a_client_waits_once_its_failures_fill_the_window() -> None:
    throttle = SignInThrottle(per_address=100, per_client=3, window=60)
    for n in range(3):
        throttle.failed(f"user{n}@example.org", "198.51.100.7")
    assert throttle.wait_minutes("new@example.org", "198.51.100.7") == 1
    assert throttle.wait_minutes("new@example.org", "198.51.100.8") == 0


def test_the_throttle_forgets_the_oldest_keys_past_its_bound() -> None:
    throttle = SignInThrottle(per_address=1, per_client=1_000_000, window=3600, max_keys=100)
    for n in range(1000):
        throttle.failed(f"a{n}@example.org", "client")
    assert throttle.wait_minutes("a999@example.org", "other") == 60
    assert throttle.wait_minutes("a0@example.org", "other") == 0  # pushed out, not kept
