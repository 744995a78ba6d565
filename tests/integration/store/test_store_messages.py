"""Store contract, mail side: the ingest writer, listings, reads, seen, delete, attachments.

Every test runs on SQLite and on PostgreSQL (tests/integration/store/conftest.py).
"""

from __future__ import annotations

import asyncio
import hashlib

import zstandard
from sqlalchemy import update

from ephemail.store import mailboxes, messages
from ephemail.store.ingest import NotStored
from ephemail.store.schema import mailboxes as mailbox_table
from ephemail.sweeper import sweep_once
from tests.support.store import MAIL, Store, plain_mail


async def test_group_commit_stores_every_message_once(store: Store) -> None:
    boxes = [await store.new_box() for _ in range(3)]
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
    kept_box, gone_box = await store.new_box(), await store.new_box()
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
    box = await store.new_box("owned")
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


async def test_listing_is_newest_first_and_pages_by_message(store: Store) -> None:
    box, elsewhere = await store.new_box("list"), await store.new_box("elsewhere")
    ids = [await store.deliver(box, plain_mail(f"m{i}", "abcdef")) for i in range(5)]
    foreign_id = await store.deliver(elsewhere)
    newest_first = ids[::-1]
    assert [mid for mid, _ in await store.reads.list_versions(box.id)] == newest_first
    page = await store.reads.page_versions(box.id, 2, None)
    assert page is not None and [mid for mid, _ in page] == newest_first[:2]
    rest = await store.reads.page_versions(box.id, 2, newest_first[1])
    assert rest is not None and [mid for mid, _ in rest] == newest_first[2:4]
    assert await store.reads.page_versions(box.id, 2, newest_first[-1]) == []
    assert await store.reads.page_versions(box.id, 2, foreign_id) is None  # not this mailbox's
    assert await store.reads.page_versions(box.id, 2, "0" * len(foreign_id)) is None
    found = await store.reads.messages_by_ids([*ids[:2], "gone-id"], 3)
    assert sorted(found) == sorted(ids[:2])  # what is no longer there is left out
    assert found[ids[0]].subject == "m0" and found[ids[0]].content == "abc"
    assert found[ids[0]].from_email == "bob@example.org" and found[ids[0]].to == box.address
    whole = await store.reads.messages_by_ids([ids[0]])
    assert whole[ids[0]].content.startswith("abcdef")
    wide = await store.deliver(box, plain_mail("wide", "é😀ßxyz"))
    cut = await store.reads.messages_by_ids([wide], 3)  # characters, not bytes, on both
    assert cut[wide].content == "é😀ß"
    assert await store.reads.messages_by_ids([]) == {}


async def test_seen_and_delete_keep_the_mailbox_count(store: Store) -> None:
    box = await store.new_box("count")
    other = await store.new_user("o@example.org")
    first, second = await store.deliver(box), await store.deliver(box)
    async with store.engine.begin() as conn:
        await messages.mark_seen(conn, first)
        await messages.mark_seen(conn, first)  # marking twice changes nothing more
    assert dict(await store.reads.list_versions(box.id)) == {first: True, second: False}
    async with store.engine.begin() as conn:
        assert not await messages.delete_message(conn, first, user_id=other.id)
        assert await messages.delete_message(conn, first, user_id=store.user.id)
    async with store.engine.begin() as conn:
        assert not await messages.delete_message(conn, first, user_id=store.user.id)
        assert not await messages.delete_message(conn, "no-such-id", user_id=store.user.id)
    assert await store.reads.get_message(first, user_id=store.user.id, mailbox_id=None) is None
    assert [mid for mid, _ in await store.reads.list_versions(box.id)] == [second]
    recipient = await store.reads.live_recipient(box.address)
    assert recipient is not None and recipient.message_count == 1
    async with store.engine.connect() as conn:
        assert await messages.get_attachment(conn, first, "a.pdf", user_id=store.user.id) is None
        assert await messages.raw_message(conn, first) is None  # the raw copy went with it


async def test_attachments_by_name_and_the_raw_copy(store: Store) -> None:
    box = await store.new_box("files")
    other = await store.new_user("o@example.org")
    message_id = await store.deliver(box)
    async with store.engine.connect() as conn:
        found = await messages.get_attachment(conn, message_id, "a.pdf", user_id=store.user.id)
        assert found == messages.AttachmentData("a.pdf", "application/pdf", b"%PDF")
        assert (
            await messages.get_attachment(conn, message_id, "b.pdf", user_id=store.user.id) is None
        )
        assert await messages.get_attachment(conn, message_id, "a.pdf", user_id=other.id) is None
        by_token = await messages.get_attachment(
            conn, message_id, "a.pdf", user_id=None, mailbox_id=box.id
        )
        assert by_token == found
        assert (
            await messages.get_attachment(
                conn, message_id, "a.pdf", user_id=None, mailbox_id=box.id + 1
            )
            is None
        )
        raw = await messages.raw_message(conn, message_id)
    assert raw is not None and raw[1] == hashlib.sha256(MAIL).hexdigest()
    assert zstandard.ZstdDecompressor().decompress(raw[0]) == MAIL
    assert await store.reads.get_message(message_id, user_id=other.id, mailbox_id=None) is None
    await store.expire(box)
    async with store.engine.connect() as conn:
        assert (
            await messages.get_attachment(conn, message_id, "a.pdf", user_id=store.user.id) is None
        )


async def test_what_a_reader_missed_is_replayed_in_receipt_order(store: Store) -> None:
    """`wait --since` and a resumed event stream read this: each message after a receipt
    sequence, oldest first, only of this mailbox, as many as asked."""
    box, elsewhere = await store.new_box("replay"), await store.new_box("replay-other")
    ids = [await store.deliver(box, plain_mail(f"r{i}", "body")) for i in range(4)]
    await store.deliver(elsewhere)
    seqs = [await store.reads.seq_of(box.id, mid) for mid in ids]
    assert all(isinstance(seq, int) for seq in seqs) and seqs == sorted(seqs)
    assert await store.reads.seq_of(elsewhere.id, ids[0]) is None  # not that mailbox's
    assert await store.reads.seq_of(box.id, "0" * len(ids[0])) is None
    first = seqs[0]
    assert first is not None
    rows = await store.reads.received_since(box.id, first, 10)
    assert [row[0] for row in rows] == ids[1:]
    _, seq, from_name, from_email, subject, received_at, address = rows[0]
    assert (seq, subject, from_email, address) == (seqs[1], "r1", "bob@example.org", box.address)
    assert isinstance(from_name, str) and received_at > 0
    assert [row[0] for row in await store.reads.received_since(box.id, 0, 2)] == ids[:2]
    assert await store.reads.received_since(box.id, seqs[-1] or 0, 10) == []
