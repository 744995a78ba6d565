"""First start: a plan, the default free domain and an admin with one API key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.store import accounts, domains

DEFAULT_PLAN = "default"
ADMIN_EMAIL = "admin@localhost.localdomain"


@dataclass(frozen=True)
class FirstStart:
    admin_email: str
    api_key: str


async def ensure_defaults(engine: AsyncEngine, default_domain: str) -> None:
    """The default plan and free domain exist before anyone needs them."""
    async with engine.begin() as conn:
        if await accounts.get_plan(conn, DEFAULT_PLAN) is None:
            await accounts.set_plan(
                conn,
                DEFAULT_PLAN,
                monthly_quota=50_000,
                mailbox_lifetime=600,
                max_mailboxes=100,
                domain_types=("free", "premium", "custom"),
            )
        if default_domain and await domains.get_domain(conn, default_domain) is None:
            await domains.add_domain(conn, default_domain, type_="free")


async def bootstrap(engine: AsyncEngine, default_domain: str) -> FirstStart | None:
    """Seed an empty database; returns the admin's key (shown once) or None if not empty."""
    await ensure_defaults(engine, default_domain)
    async with engine.begin() as conn:
        if await accounts.count_users(conn) > 0:
            return None
        await accounts.create_user(conn, ADMIN_EMAIL, plan_name=DEFAULT_PLAN, is_admin=True)
        _, key = await accounts.create_key(conn, ADMIN_EMAIL)
    return FirstStart(ADMIN_EMAIL, key)
