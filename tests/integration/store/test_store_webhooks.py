"""The webhook outbox on both backends: rows written by the commit of the mail itself, claims
that never hand one row to two dispatchers, leases that run out, and the sweeper's events."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.store import outbox
from ephemail.store import webhooks as hooks
from ephemail.store.models import Mailbox
from ephemail.store.schema import webhook_outbox
from ephemail.store.webhooks import Webhook
from ephemail.sweeper import sweep_once
from tests.support.store import Store


async def _account_and_mailbox_hooks(
    conn: AsyncConnection, store: Store, box: Mailbox, event: str
) -> tuple[Webhook, Webhook]:
    """Two hooks of the store's user for `event`: one for the account, one for `box`."""
    account = await hooks.create(conn, store.user.id, "https://a.example/", None, [event])
    scoped = await hooks.create(conn, store.user.id, "https://b.example/", box.id, [event])
    return account, scoped


async def _rows(store: Store) -> list[tuple[int, str, str]]:
    async with store.engine.connect() as conn:
        found = await conn.execute(
            select(
                webhook_outbox.c.webhook_id, webhook_outbox.c.event_id, webhook_outbox.c.event_type
            ).order_by(webhook_outbox.c.id)
        )
        return [tuple(r) for r in found]  # type: ignore[misc]


async def test_the_commit_of_received_mail_writes_its_outbox_rows(store: Store) -> None:
    box = await store.new_box("one")
    other_box = await store.new_box("two")
    stranger = await store.new_user("stranger@example.org")
    wakes: list[str] = []
    store.writer.inner.on_outbox = lambda: wakes.append("wake")
    quiet = await store.new_box("quiet", user=await store.new_user("quiet@example.org"))
    await store.deliver(quiet)
    assert wakes == []  # no hook heard it: the dispatcher is left alone
    async with store.engine.begin() as conn:
        account, scoped = await _account_and_mailbox_hooks(conn, store, box, "message.received")
        await hooks.create(conn, store.user.id, "https://c.example/", None, ["mailbox.deleted"])
        await hooks.create(conn, stranger.id, "https://d.example/", None, ["message.received"])
    await store.deliver(box)
    assert wakes == ["wake"]  # deliveries were queued by this commit: the dispatcher is due
    rows = await _rows(store)
    assert sorted(r[0] for r in rows) == [account.id, scoped.id]
    assert rows[0][1] == rows[1][1]  # one event, one id, for every hook that hears it
    await store.deliver(other_box)
    rows = await _rows(store)
    assert [r[0] for r in rows[2:]] == [account.id]
    assert {r[2] for r in rows} == {"message.received"}


async def test_claims_never_overlap_and_a_lease_runs_out(store: Store) -> None:
    async with store.engine.begin() as conn:
        hook = await hooks.create(
            conn, store.user.id, "https://a.example/", None, ["mailbox.created"]
        )
        for n in range(60):
            await hooks.enqueue(conn, store.user.id, None, "mailbox.created", {"n": n})
    now = int(time.time() * 1000)
    ids: list[int] = []
    while True:  # four dispatchers at once, round after round, until nothing is left
        claims = await asyncio.gather(
            *(outbox.claim(store.engine, now, 60_000, 25) for _ in range(4))
        )
        taken = [row for claim in claims for row in claim]
        if not taken:
            break
        assert all(row.webhook_id == hook.id for row in taken)
        ids += [row.id for row in taken]
    assert len(ids) == len(set(ids)) == 60  # each row to exactly one claimant
    assert await outbox.claim(store.engine, now + 1000, 60_000, 100) == []  # all leased
    later = await outbox.claim(store.engine, now + 61_000, 60_000, 100)  # a dead claimant's
    assert len(later) == 60
    assert await outbox.depth(store.engine) == 60


async def test_the_sweeper_tells_account_hooks_and_ends_mailbox_hooks(store: Store) -> None:
    box = await store.new_box("short")
    async with store.engine.begin() as conn:
        account, scoped = await _account_and_mailbox_hooks(conn, store, box, "mailbox.expired")
    await store.expire(box)
    assert await sweep_once(store.engine, 100) == 1
    assert [r[0] for r in await _rows(store)] == [account.id]
    async with store.engine.connect() as conn:
        assert await hooks.get(conn, store.user.id, scoped.id) is None
        assert await hooks.get(conn, store.user.id, account.id) is not None
