"""Webhook registrations, and the outbox rows of events that API routes and the sweeper make.

Received mail writes its outbox rows in the commit itself (ingest/hooks.py); every other
event is written here, inside the transaction of the change it announces, so the change and
its announcement commit together or not at all.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ephemail.core.time import now_epoch
from ephemail.store.ingest.hooks import new_event_id, wants
from ephemail.store.mailboxes import ExpiredBox
from ephemail.store.schema import mailboxes, webhook_deliveries, webhook_outbox, webhooks


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    user_id: int
    mailbox_id: int | None
    email: str | None  # the mailbox's address for a mailbox hook
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: int


def _webhook(row: Any) -> Webhook:
    m = row._mapping
    return Webhook(
        id=int(m["id"]),
        user_id=int(m["user_id"]),
        mailbox_id=m["mailbox_id"],
        email=m["address"],
        url=m["url"],
        events=tuple(e for e in m["events"].split(",") if e),
        secret=m["secret"],
        created_at=int(m["created_at"]),
    )


def _live_hooks() -> Any:
    """Hooks with their mailbox's address; a mailbox hook only while its mailbox is live."""
    return (
        select(webhooks, mailboxes.c.address)
        .select_from(webhooks.outerjoin(mailboxes, mailboxes.c.id == webhooks.c.mailbox_id))
        .where(or_(webhooks.c.mailbox_id.is_(None), mailboxes.c.expire_at > now_epoch()))
    )


async def create(
    conn: AsyncConnection, user_id: int, url: str, mailbox_id: int | None, events: Sequence[str]
) -> Webhook:
    secret = "whsec_" + secrets.token_hex(24)
    result = await conn.execute(
        insert(webhooks).values(
            user_id=user_id,
            mailbox_id=mailbox_id,
            url=url,
            events=",".join(events),
            secret=secret,
            created_at=now_epoch(),
        )
    )
    hook_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    found = await get(conn, user_id, hook_id)
    assert found is not None
    return found


async def get(conn: AsyncConnection, user_id: int, hook_id: int) -> Webhook | None:
    """The user's live hook; another user's, a missing and a dead one look the same."""
    query = _live_hooks().where(webhooks.c.id == hook_id, webhooks.c.user_id == user_id)
    row = (await conn.execute(query)).first()
    return _webhook(row) if row else None


async def get_any(conn: AsyncConnection, hook_id: int) -> Webhook | None:
    """A live hook by id alone, for the dispatcher."""
    row = (await conn.execute(_live_hooks().where(webhooks.c.id == hook_id))).first()
    return _webhook(row) if row else None


async def list_for_user(conn: AsyncConnection, user_id: int) -> list[Webhook]:
    query = _live_hooks().where(webhooks.c.user_id == user_id).order_by(webhooks.c.id)
    return [_webhook(r) for r in await conn.execute(query)]


async def count_for_user(conn: AsyncConnection, user_id: int) -> int:
    return len(await list_for_user(conn, user_id))


async def remove(conn: AsyncConnection, user_id: int, hook_id: int) -> bool:
    """Delete the hook; its pending deliveries and its log go with it (cascade)."""
    if await get(conn, user_id, hook_id) is None:
        return False
    await conn.execute(delete(webhooks).where(webhooks.c.id == hook_id))
    return True


async def forget_mailbox(conn: AsyncConnection, mailbox_id: int) -> None:
    """A renamed mailbox is a new address: hooks registered for the old one end here."""
    await conn.execute(delete(webhooks).where(webhooks.c.mailbox_id == mailbox_id))


async def enqueue(
    conn: AsyncConnection,
    user_id: int,
    mailbox_id: int | None,
    kind: str,
    data: dict[str, Any],
    *,
    only_hook: int | None = None,
) -> int:
    """Outbox rows for one event, for every hook of `user_id` that wants it; inside the
    caller's transaction. Returns how many."""
    match = [webhooks.c.user_id == user_id]
    if only_hook is not None:
        match.append(webhooks.c.id == only_hook)
    else:
        scope: ColumnElement[bool] = webhooks.c.mailbox_id.is_(None)
        if mailbox_id is not None:
            scope = or_(scope, webhooks.c.mailbox_id == mailbox_id)
        match.append(scope)
    hooks = await conn.execute(select(webhooks.c.id, webhooks.c.events).where(and_(*match)))
    targets = [int(h.id) for h in hooks if only_hook is not None or wants(h.events, kind)]
    if not targets:
        return 0
    now_ms = int(time.time() * 1000)
    event_id = new_event_id()
    payload = orjson.dumps(data).decode()
    await conn.execute(
        insert(webhook_outbox), [_outbox_row(h, event_id, kind, payload, now_ms) for h in targets]
    )
    return len(targets)


async def enqueue_expired(conn: AsyncConnection, boxes: Sequence[ExpiredBox], kind: str) -> int:
    """`kind` (mailbox.expired) for the account hooks of each mailbox just swept, in the
    sweep's transaction; the mailbox's own hooks went with it. One look-up for the batch."""
    if not boxes:
        return 0
    users = {int(b.user_id) for b in boxes}
    hooks = await conn.execute(
        select(webhooks.c.id, webhooks.c.user_id, webhooks.c.events).where(
            webhooks.c.user_id.in_(users), webhooks.c.mailbox_id.is_(None)
        )
    )
    by_user: dict[int, list[int]] = {}
    for hook in hooks:
        if wants(hook.events, kind):
            by_user.setdefault(int(hook.user_id), []).append(int(hook.id))
    now_ms = int(time.time() * 1000)
    rows = [
        _outbox_row(hook, event_id, kind, orjson.dumps({"mailbox": box.address}).decode(), now_ms)
        for box in boxes
        for event_id in (new_event_id(),)
        for hook in by_user.get(int(box.user_id), ())
    ]
    if rows:
        await conn.execute(insert(webhook_outbox), rows)
    return len(rows)


def _outbox_row(hook: int, event_id: str, kind: str, payload: str, now_ms: int) -> dict[str, Any]:
    return {
        "webhook_id": hook,
        "event_id": event_id,
        "event_type": kind,
        "payload": payload,
        "created_ms": now_ms,
        "attempts": 0,
        "next_attempt_ms": now_ms,
        "claimed_until_ms": 0,
    }


async def deliveries(conn: AsyncConnection, hook_id: int, limit: int = 100) -> list[Any]:
    """The latest attempts, newest first."""
    query = (
        select(webhook_deliveries)
        .where(webhook_deliveries.c.webhook_id == hook_id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(limit)
    )
    return list(await conn.execute(query))
