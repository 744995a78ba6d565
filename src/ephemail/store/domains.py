"""Receiving domains: free and premium ones of the service, custom ones owned by a user."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.core.addresses import AddressError, normalise_domain
from ephemail.core.time import now_epoch
from ephemail.store.accounts import DOMAIN_TYPES, require_user
from ephemail.store.errors import Conflict, Invalid, NotFound
from ephemail.store.models import Domain, User
from ephemail.store.schema import domains


def _domain(row: object) -> Domain:
    m = row._mapping  # type: ignore[attr-defined]
    return Domain(id=m["id"], name=m["name"], type=m["type"], owner_id=m["owner_id"])


async def add_domain(
    conn: AsyncConnection, name: str, *, type_: str, owner_email: str | None = None
) -> Domain:
    try:
        value = normalise_domain(name)
    except AddressError as exc:
        raise Invalid(str(exc)) from exc
    if type_ not in DOMAIN_TYPES:
        raise Invalid(f"Domain type must be one of {', '.join(DOMAIN_TYPES)}.")
    if type_ == "custom" and not owner_email:
        raise Invalid("A custom domain needs an owner (--owner EMAIL).")
    if type_ != "custom" and owner_email:
        raise Invalid("Only custom domains have an owner.")
    owner_id = (await require_user(conn, owner_email)).id if owner_email else None
    try:
        async with conn.begin_nested():  # a duplicate leaves the caller's transaction usable
            await conn.execute(
                insert(domains).values(
                    name=value, type=type_, owner_id=owner_id, created_at=now_epoch()
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"The domain '{value}' already exists.") from exc
    found = await get_domain(conn, value)
    assert found is not None
    return found


async def get_domain(conn: AsyncConnection, name: str) -> Domain | None:
    row = (await conn.execute(select(domains).where(domains.c.name == name.lower()))).first()
    return _domain(row) if row else None


async def list_domains(conn: AsyncConnection) -> list[Domain]:
    return [_domain(r) for r in await conn.execute(select(domains).order_by(domains.c.name))]


async def remove_domain(conn: AsyncConnection, name: str) -> None:
    """Removing a domain removes its mailboxes and their mail (foreign-key cascade)."""
    result = await conn.execute(delete(domains).where(domains.c.name == name.strip().lower()))
    if result.rowcount == 0:
        raise NotFound(f"No domain '{name}'.")


def allowed_types(user: User) -> list[str]:
    """The plan's types in the contract's order."""
    return [t for t in DOMAIN_TYPES if t in user.plan.domain_types]


async def domains_for_user(conn: AsyncConnection, user: User, types: list[str]) -> list[Domain]:
    """Service domains of the given types, plus the user's own when `custom` is asked."""
    conditions: list[ColumnElement[bool]] = []
    shared = [t for t in types if t != "custom"]
    if shared:
        conditions.append(domains.c.type.in_(shared))
    if "custom" in types:
        conditions.append((domains.c.type == "custom") & (domains.c.owner_id == user.id))
    if not conditions:
        return []
    rows = await conn.execute(select(domains).where(or_(*conditions)).order_by(domains.c.name))
    return [_domain(r) for r in rows]


def may_use(user: User, domain: Domain) -> bool:
    if domain.type not in user.plan.domain_types:
        return False
    return domain.type != "custom" or domain.owner_id == user.id
