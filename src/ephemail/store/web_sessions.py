"""Website sign-in sessions: a random id in the cookie, its SHA-256 in the database.

A session opens nothing once deleted or expired, and the account it names must still be
enabled: `session_user` checks all three on every page, so sign-out, a password change or
disabling the account ends a session at once, on every process.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.core.time import now_epoch
from ephemail.store.accounts import get_user_by_id
from ephemail.store.models import User
from ephemail.store.schema import web_sessions

SESSION_ID_BYTES = 32
MAX_SESSION_ID_CHARS = 128  # what a cookie may carry before it is not worth hashing


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def create_session(conn: AsyncConnection, user_id: int, lifetime: int) -> str:
    """A new session for the user; returns the id for the cookie (never stored in clear).

    Expired rows of every account are purged here: sign-ins are rare enough to pay for it,
    and the table never grows past the sessions alive plus one sign-in's worth."""
    now = now_epoch()
    await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    await conn.execute(
        insert(web_sessions).values(
            id_hash=hash_session_id(session_id),
            user_id=user_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return session_id


async def session_user(conn: AsyncConnection, session_id: str) -> User | None:
    """The enabled account of a live session, or None (unknown, expired, disabled)."""
    if not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
        return None
    row = (
        await conn.execute(
            select(web_sessions.c.user_id).where(
                web_sessions.c.id_hash == hash_session_id(session_id),
                web_sessions.c.expires_at > now_epoch(),
            )
        )
    ).first()
    if row is None:
        return None
    user = await get_user_by_id(conn, int(row.user_id))
    return None if user is None or user.disabled else user


async def delete_session(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(
        delete(web_sessions).where(web_sessions.c.id_hash == hash_session_id(session_id))
    )


async def delete_user_sessions(conn: AsyncConnection, user_id: int) -> int:
    """End every session of the account (password changed, account disabled)."""
    result = await conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))
    return int(result.rowcount)


async def count_user_sessions(conn: AsyncConnection, user_id: int) -> int:
    rows = await conn.execute(
        select(web_sessions.c.id_hash).where(
            web_sessions.c.user_id == user_id, web_sessions.c.expires_at > now_epoch()
        )
    )
    return len(rows.all())
