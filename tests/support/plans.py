"""Plans for tests, one line each: the limits a test is about, with the domain types most
tests leave alone.

The plan is made through the real `accounts.set_plan`, so its checks (limits of at least 1,
names of 1 to 64 characters) still apply and can be tested through this helper.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.store import accounts
from ephemail.store.models import Plan


async def put_plan(
    conn: AsyncConnection,
    name: str,
    *,
    quota: int,
    lifetime: int,
    mailboxes: int,
    types: tuple[str, ...] = ("free",),
    max_lifetime: int | None = None,
) -> Plan:
    """Create plan `name` or update it in place: monthly quota, mailbox lifetime in seconds,
    mailboxes at most, the domain types it may use, and how long extending may make a
    mailbox live (None: as long as one lifetime)."""
    return await accounts.set_plan(
        conn,
        name,
        monthly_quota=quota,
        mailbox_lifetime=lifetime,
        max_mailboxes=mailboxes,
        domain_types=types,
        max_lifetime_seconds=max_lifetime,
    )
