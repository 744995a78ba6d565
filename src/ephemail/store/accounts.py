"""Plans, users and API keys. Keys are kept only as SHA-256 hashes."""

from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.core.periods import is_valid_zone
from ephemail.core.time import now_epoch
from ephemail.store.errors import Conflict, Invalid, NotFound
from ephemail.store.models import ApiKeyInfo, Plan, User
from ephemail.store.schema import api_keys, plans, users, web_sessions

DOMAIN_TYPES = ("free", "premium", "custom")
KEY_PREFIX = "eph_"
_hasher = PasswordHasher()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_domain_types(value: str) -> tuple[str, ...]:
    types = tuple(dict.fromkeys(t.strip().lower() for t in value.split(",") if t.strip()))
    bad = [t for t in types if t not in DOMAIN_TYPES]
    if bad or not types:
        raise Invalid(f"Domain types must be a comma list of {', '.join(DOMAIN_TYPES)}.")
    return types


def _plan(row: object, *, prefix: str = "") -> Plan:
    """A plan from its own row, or from a user row where its id and name carry `prefix`."""
    m = row._mapping  # type: ignore[attr-defined]
    return Plan(
        id=m[f"{prefix}id"],
        name=m[f"{prefix}name"],
        monthly_quota=m["monthly_quota"],
        mailbox_lifetime=m["mailbox_lifetime"],
        max_mailboxes=m["max_mailboxes"],
        domain_types=tuple(m["domain_types"].split(",")),
        max_lifetime_seconds=m["max_lifetime_seconds"],
    )


async def set_plan(
    conn: AsyncConnection,
    name: str,
    *,
    monthly_quota: int,
    mailbox_lifetime: int,
    max_mailboxes: int,
    domain_types: tuple[str, ...],
    max_lifetime_seconds: int | None = None,
) -> Plan:
    """Create the plan or update it in place: its users see the change at once.

    `max_lifetime_seconds`: None keeps a plan's value (a new plan's is its lifetime: no
    extension)."""
    if min(monthly_quota, mailbox_lifetime, max_mailboxes) < 1:
        raise Invalid(
            "The monthly quota, mailbox lifetime and mailbox limit must each be at least 1."
        )
    if max_lifetime_seconds is not None and max_lifetime_seconds < mailbox_lifetime:
        raise Invalid("The maximum lifetime must be at least the mailbox lifetime.")
    if not name.strip() or len(name) > 64:
        raise Invalid("A plan name must be 1 to 64 characters.")
    values = {
        "monthly_quota": monthly_quota,
        "mailbox_lifetime": mailbox_lifetime,
        "max_mailboxes": max_mailboxes,
        "domain_types": ",".join(domain_types),
    }
    existing = await get_plan(conn, name)
    if max_lifetime_seconds is not None:
        values["max_lifetime_seconds"] = max_lifetime_seconds
    elif existing is None:
        values["max_lifetime_seconds"] = mailbox_lifetime
    if existing:
        await conn.execute(update(plans).where(plans.c.id == existing.id).values(**values))
    else:
        await conn.execute(insert(plans).values(name=name, **values))
    plan = await get_plan(conn, name)
    assert plan is not None
    return plan


async def get_plan(conn: AsyncConnection, name: str) -> Plan | None:
    row = (await conn.execute(select(plans).where(plans.c.name == name))).first()
    return _plan(row) if row else None


async def list_plans(conn: AsyncConnection) -> list[Plan]:
    rows = await conn.execute(select(plans).order_by(plans.c.name))
    return [_plan(r) for r in rows]


async def create_user(
    conn: AsyncConnection,
    email: str,
    *,
    plan_name: str,
    timezone: str = "UTC",
    password: str | None = None,
    is_admin: bool = False,
    password_hash: str | None = None,
) -> User:
    """`password_hash` (from `hash_password`, made off the event loop) or `password`."""
    email = email.strip().lower()
    if email.count("@") != 1 or len(email) > 320 or " " in email:
        raise Invalid(f"'{email}' is not a valid email address.")
    if not is_valid_zone(timezone):
        raise Invalid(f"Unknown time zone '{timezone}'.")
    plan = await get_plan(conn, plan_name)
    if plan is None:
        raise NotFound(f"No plan named '{plan_name}'.")
    try:
        async with conn.begin_nested():  # a duplicate leaves the caller's transaction usable
            await conn.execute(
                insert(users).values(
                    email=email,
                    password_hash=password_hash or (_hasher.hash(password) if password else None),
                    plan_id=plan.id,
                    timezone=timezone,
                    is_admin=is_admin,
                    disabled=False,
                    created_at=now_epoch(),
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"A user '{email}' already exists.") from exc
    user = await get_user(conn, email)
    assert user is not None
    return user


def _user_query() -> Select[Any]:
    return select(
        users,
        plans.c.id.label("p_id"),
        plans.c.name.label("p_name"),
        plans.c.monthly_quota,
        plans.c.mailbox_lifetime,
        plans.c.max_mailboxes,
        plans.c.domain_types,
        plans.c.max_lifetime_seconds,
    ).join(plans, users.c.plan_id == plans.c.id)


def _user(row: object) -> User:
    m = row._mapping  # type: ignore[attr-defined]
    return User(
        id=m["id"],
        email=m["email"],
        timezone=m["timezone"],
        is_admin=bool(m["is_admin"]),
        disabled=bool(m["disabled"]),
        plan=_plan(row, prefix="p_"),
    )


async def get_user(conn: AsyncConnection, email: str) -> User | None:
    row = (await conn.execute(_user_query().where(users.c.email == email.strip().lower()))).first()
    return _user(row) if row else None


async def require_user(conn: AsyncConnection, email: str) -> User:
    user = await get_user(conn, email)
    if user is None:
        raise NotFound(f"No user '{email}'.")
    return user


async def get_user_by_id(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(_user_query().where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def list_users(conn: AsyncConnection) -> list[User]:
    return [_user(r) for r in await conn.execute(_user_query().order_by(users.c.id))]


async def count_users(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())


async def set_user_plan(conn: AsyncConnection, email: str, plan_name: str) -> User:
    user = await require_user(conn, email)
    plan = await get_plan(conn, plan_name)
    if plan is None:
        raise NotFound(f"No plan named '{plan_name}'.")
    await conn.execute(update(users).where(users.c.id == user.id).values(plan_id=plan.id))
    return await require_user(conn, email)


async def set_user_disabled(conn: AsyncConnection, email: str, disabled: bool) -> User:
    """Disabling also ends the account's website sessions (its keys answer 403)."""
    user = await require_user(conn, email)
    await conn.execute(update(users).where(users.c.id == user.id).values(disabled=disabled))
    if disabled:
        await conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user.id))
    return await require_user(conn, email)


async def set_user_admin(conn: AsyncConnection, email: str, is_admin: bool) -> User:
    user = await require_user(conn, email)
    await conn.execute(update(users).where(users.c.id == user.id).values(is_admin=is_admin))
    return await require_user(conn, email)


MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; a megabyte "password" is only a cost


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise Invalid(f"The password must be at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise Invalid(f"The password must be at most {MAX_PASSWORD_CHARS} characters.")


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    """A new password (from `hash_password`) ends every website session of the account; the
    caller signs the person who changed it in again."""
    await conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash)
    )
    await conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))


async def password_hash_of(
    conn: AsyncConnection, email: str
) -> tuple[int, str | None, bool] | None:
    """(user id, password hash, disabled) of an account, for signing in; None if none."""
    row = (
        await conn.execute(
            select(users.c.id, users.c.password_hash, users.c.disabled).where(
                users.c.email == email.strip().lower()
            )
        )
    ).first()
    return None if row is None else (int(row.id), row.password_hash, bool(row.disabled))


@functools.cache
def _dummy_hash() -> str:
    """Checked against when there is no account (or no password): a sign-in for an unknown
    address costs one argon2 verification like any other, so its timing tells nothing."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """argon2id; slow on purpose (tens of milliseconds): callers on the event loop run it in
    a thread."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        ok = _hasher.verify(password_hash or _dummy_hash(), password)
    except Exception:  # argon2 raises several kinds for a mismatch or a bad hash
        return False
    return bool(ok) and bool(password_hash)


async def create_key(conn: AsyncConnection, email: str) -> tuple[ApiKeyInfo, str]:
    """A new key: 32 random bytes, returned once in clear, stored as its hash."""
    user = await require_user(conn, email)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    created = now_epoch()
    result = await conn.execute(
        insert(api_keys)
        .values(user_id=user.id, key_hash=hash_key(key), prefix=key[:10], created_at=created)
        .returning(api_keys.c.id)
    )
    key_id = int(result.scalar_one())
    return ApiKeyInfo(id=key_id, prefix=key[:10], created_at=created, revoked_at=None), key


async def list_keys(conn: AsyncConnection, email: str) -> list[ApiKeyInfo]:
    user = await require_user(conn, email)
    rows = await conn.execute(
        select(api_keys).where(api_keys.c.user_id == user.id).order_by(api_keys.c.id)
    )
    return [
        ApiKeyInfo(
            id=r.id,
            prefix=r.prefix,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
            last_used_at=r.last_used_at,
        )
        for r in rows
    ]


async def revoke_key(conn: AsyncConnection, key_id: int, *, owner_id: int | None = None) -> str:
    """Revoke a key by id; returns the key's hash so caches everywhere can drop it.

    With `owner_id`, someone else's key is NotFound like a missing one."""
    query = select(api_keys).where(api_keys.c.id == key_id)
    if owner_id is not None:
        query = query.where(api_keys.c.user_id == owner_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"No API key with id {key_id}.")
    if row.revoked_at is None:
        await conn.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now_epoch())
        )
    return str(row.key_hash)


async def user_for_key(conn: AsyncConnection, key_hash: str) -> User | None:
    """The user owning the live key whose `hash_key` is given, or None (unknown, revoked).

    The caller hashes the key once and uses the digest as its cache slot too."""
    row = (
        await conn.execute(
            select(api_keys.c.user_id).where(
                api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return await get_user_by_id(conn, int(row.user_id))
