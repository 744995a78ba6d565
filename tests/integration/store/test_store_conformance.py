"""One store suite, run on SQLite and on PostgreSQL, so neither backend drifts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.store import accounts, mailboxes, messages
from ephemail.store.bootstrap import bootstrap
from ephemail.store.db import create_engine, migrate_async
from ephemail.store.errors import Conflict, Forbidden
from ephemail.store.ingest import NotStored
from ephemail.store.quota import MemoryQuota, SqlQuota
from ephemail.store.reads import HotReads, make_reads
from ephemail.store.schema import mailboxes as mailbox_table
from ephemail.sweeper import sweep_once
from tests.support import RawMailWriter as MessageWriter  # writers take rows; this prepares
from tests.support import make_raw_writer as make_writer

MAIL = (
    b"From: Ann <ann@example.org>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
    b"body\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    b'filename="a.pdf"\r\n\r\n%PDF\r\n--b--\r\n'
)


@dataclass
class Store:
    engine: AsyncEngine
    reads: HotReads
    writer: MessageWriter
    user: accounts.User


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate_async(database_url)
    engine = create_engine(database_url)
    await bootstrap(engine, "ephemail.test")
    reads = make_reads(database_url)
    writer = make_writer(database_url, engine, mailbox_message_cap=1000, batch_max=64)
    await writer.start()
    async with engine.begin() as conn:
        user = await accounts.create_user(conn, "u@example.org", plan_name="default")
    try:
        yield Store(engine, reads, writer, user)
    finally:
        await writer.stop()
        await reads.close()
        await engine.dispose()


async def new_box(store: Store, username: str | None = None) -> mailboxes.Mailbox:
    async with store.engine.begin() as conn:
        return await mailboxes.create_mailbox(conn, store.user, username=username)


async def test_group_commit_stores_every_message_once(store: Store) -> None:
    boxes = [await new_box(store) for _ in range(3)]
    recipients = {b.id: (await store.reads.live_recipient(b.address)) for b in boxes}
    assert all(r is not None for r in recipients.values())
    sends = [
        store.writer.submit("s@example.org", [recipients[boxes[i % 3].id]], MAIL)  # type: ignore[list-item]
        for i in range(90)
    ]
    ids = await asyncio.gather(*sends)
    assert len({i[0] for i in ids}) == 90
    assert store.writer.transactions < 90  # several messages shared a transaction
    for box in boxes:
        versions = await store.reads.list_versions(box.id)
        assert len(versions) == 30 and not any(seen for _, seen in versions)
        by_id = await store.reads.messages_by_ids([mid for mid, _ in versions])
        listed = [by_id[mid] for mid, _ in versions]
        assert listed[0].subject == "Grüße" and listed[0].from_name == "Ann"
        assert [a.name for a in listed[0].attachments] == ["a.pdf"]
        recipient = await store.reads.live_recipient(box.address)
        assert recipient is not None and recipient.message_count == 30


async def test_mail_for_a_mailbox_deleted_after_rcpt_goes_with_it(store: Store) -> None:
    kept_box, gone_box = await new_box(store), await new_box(store)
    kept = await store.reads.live_recipient(kept_box.address)
    gone = await store.reads.live_recipient(gone_box.address)
    assert kept is not None and gone is not None
    async with store.engine.begin() as conn:  # deleted between RCPT and the commit
        await mailboxes.delete_mailbox(conn, store.user.id, gone_box.address)
    both = store.writer.submit("s@example.org", [kept, gone], MAIL)
    only_gone = store.writer.submit("s@example.org", [gone], MAIL)
    alone = store.writer.submit("s@example.org", [kept], MAIL)
    # One batch: each request gets its own answer.
    stored_both, refused, stored_alone = await asyncio.gather(
        both, only_gone, alone, return_exceptions=True
    )
    assert isinstance(refused, NotStored) and refused.reply.startswith("550 ")
    assert isinstance(stored_both, list) and isinstance(stored_alone, list)
    assert len(stored_both) == len(stored_alone) == 1  # only the copy for the kept mailbox
    assert len(await store.reads.list_versions(kept_box.id)) == 2
    assert await store.reads.list_versions(gone_box.id) == []
    recipient = await store.reads.live_recipient(kept_box.address)
    assert recipient is not None and recipient.message_count == 2
    assert await store.reads.live_recipient(gone_box.address) is None


async def test_reads_respect_owner_and_expiry(store: Store) -> None:
    box = await new_box(store, "owned")
    recipient = await store.reads.live_recipient("owned@ephemail.test")
    assert recipient is not None
    (message_id,) = await store.writer.submit("s@example.org", [recipient], MAIL)
    assert await store.reads.owned_mailbox(store.user.id, box.address) == (box.id, box.address)
    assert await store.reads.owned_mailbox(store.user.id + 1, box.address) is None
    found = await store.reads.get_message(message_id, user_id=store.user.id, mailbox_id=None)
    assert found is not None and found.is_seen is False and found.to == box.address
    assert (
        await store.reads.get_message(message_id, user_id=store.user.id + 1, mailbox_id=None)
        is None
    )
    assert await store.reads.get_message(message_id, user_id=None, mailbox_id=box.id) is not None
    assert await store.reads.get_message(message_id, user_id=None, mailbox_id=box.id + 1) is None
    async with store.engine.begin() as conn:
        await messages.mark_seen(conn, message_id)
    seen = await store.reads.get_message(message_id, user_id=store.user.id, mailbox_id=None)
    assert seen is not None and seen.is_seen is True
    async with store.engine.begin() as conn:
        await conn.execute(update(mailbox_table).values(expire_at=1))
    assert await store.reads.live_recipient(box.address) is None
    assert await store.reads.owned_mailbox(store.user.id, box.address) is None
    assert await store.reads.get_message(message_id, user_id=store.user.id, mailbox_id=None) is None
    assert await sweep_once(store.engine, 10) == 1


async def test_mailbox_rules(store: Store) -> None:
    await new_box(store, "same")
    with pytest.raises(Conflict):
        await new_box(store, "same")
    async with store.engine.begin() as conn:
        renamed = await mailboxes.rename_mailbox(
            conn, store.user, "same@ephemail.test", "other", "ephemail.test"
        )
    assert renamed.address == "other@ephemail.test"
    async with store.engine.begin() as conn:
        await accounts.set_plan(
            conn,
            "tiny",
            monthly_quota=1,
            mailbox_lifetime=60,
            max_mailboxes=1,
            domain_types=("free",),
        )
        tiny = await accounts.create_user(conn, "t@example.org", plan_name="tiny")
        await mailboxes.create_mailbox(conn, tiny)
    with pytest.raises(Forbidden):
        async with store.engine.begin() as conn:
            await mailboxes.create_mailbox(conn, tiny)


@pytest.mark.parametrize("kind", ["memory", "sql"])
async def test_quota_reserve_release(store: Store, kind: str) -> None:
    quota = MemoryQuota(store.engine, 0.05) if kind == "memory" else SqlQuota(store.engine)
    try:
        results = await asyncio.gather(
            *(quota.reserve(store.user.id, "2026-05", 5) for _ in range(8))
        )
        assert sorted(r for r in results if r is not None) == [1, 2, 3, 4, 5]
        assert results.count(None) == 3
        await quota.release(store.user.id, "2026-05")
        assert await quota.used(store.user.id, "2026-05") == 4
        assert await quota.used(store.user.id, "2026-06") == 0
    finally:
        await quota.close()
    if kind == "memory":  # written behind, and read back by a fresh process's counters
        again = MemoryQuota(store.engine)
        assert await again.used(store.user.id, "2026-05") == 4
        await again.close()
