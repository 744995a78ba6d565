"""Quota periods are calendar months in the account's zone."""

from __future__ import annotations

from datetime import UTC, datetime

from ephemail.core.periods import period_bounds, period_key


def test_reset_is_next_month_start_with_the_zone_offset() -> None:
    now = datetime(2026, 4, 30, 20, 0, tzinfo=UTC)  # already May 1st 01:00 in Karachi
    start, reset = period_bounds(now, "Asia/Karachi")
    assert start.isoformat() == "2026-05-01T00:00:00+05:00"
    assert reset.isoformat() == "2026-06-01T00:00:00+05:00"
    assert period_key(now, "Asia/Karachi") == "2026-05"
    assert period_key(now, "UTC") == "2026-04"


def test_december_rolls_into_next_year() -> None:
    _, reset = period_bounds(datetime(2026, 12, 15, tzinfo=UTC), "UTC")
    assert reset.isoformat() == "2027-01-01T00:00:00+00:00"


def test_dst_zone_gets_the_offset_of_the_reset_instant() -> None:
    _, reset = period_bounds(datetime(2026, 3, 10, tzinfo=UTC), "Europe/Athens")
    assert reset.isoformat() == "2026-04-01T00:00:00+03:00"  # summer time by April


def test_unknown_zone_falls_back_to_utc() -> None:
    _, reset = period_bounds(datetime(2026, 1, 5, tzinfo=UTC), "Mars/Olympus")
    assert reset.isoformat() == "2026-02-01T00:00:00+00:00"
