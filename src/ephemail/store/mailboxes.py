"""Mailboxes: creation, rename, delete, listing and expiry. RCPT looks recipients up in
reads.py."""

from __future__ import annotations

import secrets
from typing import NamedTuple

from sqlalchemy import Insert, case, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.core.addresses import AddressError, normalise_address, validate_username
from ephemail.core.ids import new_life_secret, new_username
from ephemail.core.time import now_epoch
from ephemail.store.domains import domains_for_user, get_domain, may_use
from ephemail.store.errors import Conflict, Forbidden, Invalid, NotFound
from ephemail.store.models import Domain, Mailbox, User
from ephemail.store.reads import OWNED_MAILBOX_SQL, numbered
from ephemail.store.schema import Epoch, Id, mailboxes, users

MAILBOX_LIMIT = "Your plan's mailbox limit has been reached."


def _mailbox(row: object) -> Mailbox:
    m = row._mapping  # type: ignore[attr-defined]
    address = m["address"]
    return Mailbox(
        id=m["id"],
        user_id=m["user_id"],
        address=address,
        domain=address.rsplit("@", 1)[1],
        created_at=m["created_at"],
        expire_at=m["expire_at"],
        message_count=m["message_count"],
        life_secret=m["life_secret"],
    )


async def _usable_domain(conn: AsyncConnection, user: User, name: str | None) -> Domain:
    if name is None:
        choices = await domains_for_user(conn, user, list(user.plan.domain_types))
        if not choices:
            raise Forbidden("Your plan allows no domain to create a mailbox on.")
        return secrets.choice(choices)
    domain = await get_domain(conn, name.strip().lower())
    # Someone else's custom domain answers exactly like an unknown one: a different answer
    # would let any key holder find out which domains the other accounts own.
    if domain is None or (domain.type == "custom" and domain.owner_id != user.id):
        raise Invalid(f"The domain '{name}' is not served here.")
    if not may_use(user, domain):
        raise Forbidden(f"Your plan does not allow the domain '{domain.name}'.")
    return domain


async def count_live(conn: AsyncConnection, user_id: int) -> int:
    query = (
        select(func.count())
        .select_from(mailboxes)
        .where(mailboxes.c.user_id == user_id, mailboxes.c.expire_at > now_epoch())
    )
    return int((await conn.execute(query)).scalar_one())


async def create_mailbox(
    conn: AsyncConnection, user: User, *, domain: str | None = None, username: str | None = None
) -> Mailbox:
    """A new mailbox on an allowed domain; the plan sets its lifetime and how many may live."""
    if user.disabled:
        raise Forbidden("This account is disabled.")
    chosen = await _usable_domain(conn, user, domain)
    await _lock_owner(conn, user.id)
    if await count_live(conn, user.id) >= user.plan.max_mailboxes:
        raise Forbidden(MAILBOX_LIMIT)
    if username is not None:
        try:
            local = validate_username(username)
        except AddressError as exc:
            raise Invalid(str(exc)) from exc
    now = now_epoch()
    for _ in range(8):
        name = local if username is not None else new_username()
        address = f"{name}@{chosen.name}"
        await _purge_if_expired(conn, address, now)
        try:
            async with conn.begin_nested():
                result = await conn.execute(_insert_below_limit(user, chosen, address, now))
        except IntegrityError as exc:
            if username is not None:
                raise Conflict(f"The address '{address}' is already in use.") from exc
            continue
        new_id = result.scalar_one_or_none()
        if new_id is None:
            raise Forbidden(MAILBOX_LIMIT)
        found = await get_by_id(conn, int(new_id))
        assert found is not None
        return found
    raise Conflict("Could not find a free random address; try again.")


async def _lock_owner(conn: AsyncConnection, user_id: int) -> None:
    """PostgreSQL: one user's creations queue on the user's row until each commits.

    Without it two transactions both count N-1 live mailboxes and both insert. `FOR NO KEY
    UPDATE` does not block the key-share locks that inserting mail for the user takes. SQLite
    has no row locks (the clause renders as nothing); there the insert below does the count.
    """
    await conn.execute(
        select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)
    )


def _insert_below_limit(user: User, chosen: Domain, address: str, now: int) -> Insert:
    """One INSERT … SELECT … WHERE live < max: count and insert are one atomic statement.

    SQLite runs it under its single write lock, so no other creation can slip in between.
    It inserts nothing (and returns no id) once the plan's limit is reached.
    """
    live = (
        select(func.count())
        .select_from(mailboxes)
        .where(mailboxes.c.user_id == user.id, mailboxes.c.expire_at > now)
        .scalar_subquery()
    )
    row = select(
        literal(user.id, Id),
        literal(chosen.id, Id),
        literal(address),
        literal(now, Epoch),
        literal(now + user.plan.mailbox_lifetime, Epoch),
        literal(0),
    ).where(live < user.plan.max_mailboxes)
    columns = ["user_id", "domain_id", "address", "created_at", "expire_at", "message_count"]
    return insert(mailboxes).from_select(columns, row).returning(mailboxes.c.id)


async def _purge_if_expired(conn: AsyncConnection, address: str, now: int) -> None:
    """An expired mailbox must not hold its address until the sweeper comes by."""
    await conn.execute(
        delete(mailboxes).where(mailboxes.c.address == address, mailboxes.c.expire_at <= now)
    )


async def get_by_id(conn: AsyncConnection, mailbox_id: int) -> Mailbox | None:
    row = (await conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id))).first()
    return _mailbox(row) if row else None


async def owned_id(conn: AsyncConnection, user_id: int, address: str) -> int | None:
    """The id of the user's live mailbox at that address, inside this transaction; foreign,
    missing and expired look the same. The same SQL as the API's hot lookup
    (`HotReads.owned_mailbox`), so the two cannot disagree on what "owned" means."""
    try:
        value = normalise_address(address)
    except AddressError:
        return None
    sql = OWNED_MAILBOX_SQL if conn.dialect.name == "sqlite" else numbered(OWNED_MAILBOX_SQL)
    row = (await conn.exec_driver_sql(sql, (value, user_id, now_epoch()))).first()
    return int(row[0]) if row else None


async def live_by_id(conn: AsyncConnection, mailbox_id: int, life_secret: str) -> Mailbox | None:
    """For email tokens: the mailbox must still be live in the life the token names."""
    row = (
        await conn.execute(
            select(mailboxes).where(
                mailboxes.c.id == mailbox_id,
                mailboxes.c.life_secret == life_secret,
                mailboxes.c.expire_at > now_epoch(),
            )
        )
    ).first()
    return _mailbox(row) if row else None


async def rename_mailbox(
    conn: AsyncConnection, user: User, current: str, new_username: str, domain: str
) -> Mailbox:
    """Move a mailbox to a new address; its messages and expiry stay, its life ends (tokens
    of the old address stop working, and stay dead if it is renamed back)."""
    box_id = await owned_id(conn, user.id, current)
    box = await get_by_id(conn, box_id) if box_id is not None else None
    if box is None:
        raise NotFound("Email not found.")
    try:
        local = validate_username(new_username)
    except AddressError as exc:
        raise Invalid(str(exc)) from exc
    target = await _usable_domain(conn, user, domain)
    address = f"{local}@{target.name}"
    if address == box.address:
        return box
    now = now_epoch()
    await _purge_if_expired(conn, address, now)
    try:
        async with conn.begin_nested():
            await conn.execute(
                update(mailboxes)
                .where(mailboxes.c.id == box.id)
                .values(address=address, domain_id=target.id, life_secret=new_life_secret())
            )
    except IntegrityError as exc:
        raise Conflict(f"The address '{address}' is already in use.") from exc
    found = await get_by_id(conn, box.id)
    assert found is not None
    return found


async def delete_mailbox(conn: AsyncConnection, user_id: int, address: str) -> int | None:
    """The id of the mailbox deleted (for its mailbox.deleted event), or None."""
    box_id = await owned_id(conn, user_id, address)
    if box_id is None:
        return None
    await conn.execute(delete(mailboxes).where(mailboxes.c.id == box_id))
    return box_id


async def list_for_user(conn: AsyncConnection, user_id: int) -> list[Mailbox]:
    rows = await conn.execute(
        select(mailboxes)
        .where(mailboxes.c.user_id == user_id, mailboxes.c.expire_at > now_epoch())
        .order_by(mailboxes.c.id.desc())
    )
    return [_mailbox(r) for r in rows]


async def expired_ids(conn: AsyncConnection, limit: int) -> list[int]:
    rows = await conn.execute(
        select(mailboxes.c.id).where(mailboxes.c.expire_at <= now_epoch()).limit(limit)
    )
    return [int(r.id) for r in rows]


class ExpiredBox(NamedTuple):
    id: int
    user_id: int
    address: str


async def delete_expired(conn: AsyncConnection, limit: int) -> list[ExpiredBox]:
    """Delete up to `limit` expired mailboxes; those this statement deleted.

    One statement claims the rows: when two sweepers race (workers of a SQLite node, or
    nodes on PostgreSQL whose advisory lock was not taken), a row deleted by one is not
    returned to the other, so each expiry is told once."""
    claim = select(mailboxes.c.id).where(mailboxes.c.expire_at <= now_epoch()).limit(limit)
    rows = await conn.execute(
        delete(mailboxes)
        .where(mailboxes.c.id.in_(claim.scalar_subquery()))
        .returning(mailboxes.c.id, mailboxes.c.user_id, mailboxes.c.address)
    )
    return [ExpiredBox(int(r.id), int(r.user_id), str(r.address)) for r in rows]


async def count_all_live(conn: AsyncConnection) -> int:
    """Live mailboxes of every account (the operator's overview)."""
    query = select(func.count()).select_from(mailboxes).where(mailboxes.c.expire_at > now_epoch())
    return int((await conn.execute(query)).scalar_one())


AT_MAXIMUM = "This mailbox already lives as long as your plan allows."


async def extend_mailbox(conn: AsyncConnection, user: User, address: str) -> Mailbox:
    """Add the plan's lifetime to a live mailbox, up to its creation + the plan's maximum.

    One UPDATE, so two extends at once each add at most one lifetime and never pass the
    maximum. The life (and so the email token) stays the same. NotFound for a missing,
    foreign or expired mailbox; Forbidden when it already lives as long as it may."""
    box_id = await owned_id(conn, user.id, address)
    if box_id is None:
        raise NotFound("Email not found.")
    plan = user.plan
    longest = mailboxes.c.created_at + plan.max_lifetime
    longer = mailboxes.c.expire_at + plan.mailbox_lifetime
    result = await conn.execute(
        update(mailboxes)
        .where(
            mailboxes.c.id == box_id,
            mailboxes.c.expire_at > now_epoch(),
            mailboxes.c.expire_at < longest,
        )
        .values(expire_at=case((longer < longest, longer), else_=longest))
    )
    box = await get_by_id(conn, box_id)
    if box is None or box.expire_at <= now_epoch():
        raise NotFound("Email not found.")
    if result.rowcount != 1:
        raise Forbidden(AT_MAXIMUM)
    return box
