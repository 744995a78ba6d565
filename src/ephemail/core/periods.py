"""Quota periods: calendar months in the account's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str) -> ZoneInfo:
    """The account's zone; unknown names fall back to UTC rather than failing a request."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def period_bounds(now: datetime, zone_name: str) -> tuple[datetime, datetime]:
    """(start of this month, start of next month), both aware, in the account's zone."""
    local = now.astimezone(zone(zone_name))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        nxt = start.replace(year=start.year + 1, month=1)
    else:
        nxt = start.replace(month=start.month + 1)
    # Re-attach the zone so a DST change inside the month gives the right offset.
    tz = zone(zone_name)
    return start.replace(tzinfo=tz), nxt.replace(tzinfo=tz)


@dataclass(frozen=True, slots=True)
class Period:
    """One quota month: its counter key and when the next one starts."""

    key: str  # YYYY-MM in the account's zone
    reset_iso: str
    reset_epoch: float


def period_at(now: datetime, zone_name: str) -> Period:
    start, nxt = period_bounds(now, zone_name)
    return Period(f"{start.year:04d}-{start.month:02d}", nxt.isoformat(), nxt.timestamp())


def current_period(zone_name: str) -> Period:
    return period_at(utcnow(), zone_name)


def period_key(now: datetime, zone_name: str) -> str:
    """A stable counter key for the period: its start as `YYYY-MM`."""
    return period_at(now, zone_name).key


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_seconds(value: datetime) -> str:
    """ISO 8601 with whole seconds and the offset, as the contract writes times."""
    return value.replace(microsecond=0).isoformat()
