"""A store that is away (PostgreSQL or Redis unreachable) is a 503, not a 500.

What the database, Redis or their drivers raise when they cannot be reached comes in many
types, often wrapped (SQLAlchemy around asyncpg around an OSError); `is_outage` walks the
chain. A 503 carries the envelope and `Retry-After`, and nothing about the fault: the
next request after the service is back simply succeeds (pools reconnect on their own).
"""

from __future__ import annotations

import asyncpg
import redis.exceptions
from sqlalchemy import exc as sa_exc

from ephemail.api.respond import STATUS_MESSAGES, envelope

RETRY_SECONDS = 2
MESSAGE = STATUS_MESSAGES[503]
BODY = envelope(MESSAGE)
HEADERS = [(b"retry-after", str(RETRY_SECONDS).encode())]

_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (ConnectionError and TimeoutError among them)
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection came free
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    # too many clients, out of memory or disk: the server is there but cannot take us now
    asyncpg.exceptions.InsufficientResourcesError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


def is_outage(exc: BaseException | None) -> bool:
    """True when `exc`, or anything it was raised from, says a store could not be reached."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, _OUTAGES):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
