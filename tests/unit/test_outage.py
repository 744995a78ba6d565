"""Which failures of a store are an outage (503 with Retry-After) rather than a bug (500)."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

from ephemail.api.outage import is_outage


def _wrapped(inner: BaseException) -> BaseException:
    """As SQLAlchemy raises it: a DBAPIError raised from the driver's exception."""
    try:
        try:
            raise inner
        except BaseException as driver:
            raise sa_exc.DBAPIError("SELECT 1", None, driver) from driver
    except sa_exc.DBAPIError as outer:
        return outer


def test_a_database_with_no_connection_slot_left_is_an_outage() -> None:
    assert is_outage(_wrapped(asyncpg.exceptions.TooManyConnectionsError("too many clients")))
    assert is_outage(_wrapped(asyncpg.exceptions.DiskFullError("no space left")))


def test_a_bad_statement_is_not_an_outage() -> None:
    assert not is_outage(_wrapped(asyncpg.exceptions.UndefinedColumnError("no such column")))
    assert not is_outage(ValueError("a bug"))
