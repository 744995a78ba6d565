"""Store contract, mailboxes: create, limits, rename, delete, expiry and purge, on both backends."""

from __future__ import annotations

import pytest

from ephemail.store import accounts, mailboxes
from ephemail.store.errors import Conflict, Forbidden, Invalid, NotFound
from ephemail.store.models import User
from ephemail.sweeper import sweep_once
from tests.support.plans import put_plan
from tests.support.store import DOMAIN, Store


async def small_plan_user(store: Store, max_mailboxes: int) -> User:
    async with store.engine.begin() as conn:
        await put_plan(conn, "small", quota=10, lifetime=300, mailboxes=max_mailboxes)
        return await accounts.create_user(conn, "s@example.org", plan_name="small")


async def test_create_random_and_chosen(store: Store) -> None:
    random = await store.new_box()
    local, _, domain = random.address.partition("@")
    assert domain == DOMAIN == random.domain and local
    assert random.user_id == store.user.id and random.message_count == 0
    assert random.expire_at - random.created_at == store.user.plan.mailbox_lifetime
    chosen = await store.new_box("Chosen.Name")
    assert chosen.address == f"chosen.name@{DOMAIN}"
    with pytest.raises(Conflict):  # taken, by its owner or by anyone else
        await store.new_box("chosen.name")
    with pytest.raises(Conflict):
        await store.new_box("chosen.name", user=await store.new_user("o@example.org"))
    for bad in ("", "a b", "x" * 65, "semi;colon"):
        with pytest.raises(Invalid):
            await store.new_box(bad)
    async with store.engine.connect() as conn:
        listed = await mailboxes.list_for_user(conn, store.user.id)
        assert [b.address for b in listed] == [chosen.address, random.address]  # newest first
        assert await mailboxes.count_live(conn, store.user.id) == 2
        assert await mailboxes.owned_id(conn, store.user.id, "CHOSEN.name@" + DOMAIN) == chosen.id
        assert await mailboxes.get_by_id(conn, chosen.id) == chosen
    assert await store.reads.owned_mailbox(store.user.id, chosen.address) == (
        chosen.id,
        chosen.address,
    )


async def test_the_plan_limit_counts_live_mailboxes_only(store: Store) -> None:
    user = await small_plan_user(store, 2)
    first = await store.new_box(user=user)
    await store.new_box(user=user)
    with pytest.raises(Forbidden, match="mailbox limit"):
        await store.new_box(user=user)
    with pytest.raises(Forbidden, match="mailbox limit"):
        await store.new_box("chosen", user=user)
    await store.expire(first)  # an expired mailbox frees its slot before the sweeper runs
    await store.new_box(user=user)
    async with store.engine.begin() as conn:
        assert await mailboxes.count_live(conn, user.id) == 2
    async with store.engine.begin() as conn:  # a plan that allows no mailbox is refused
        with pytest.raises(Invalid, match="at least 1"):
            await put_plan(conn, "none", quota=1, lifetime=1, mailboxes=0)


async def test_rename_keeps_the_mailbox_and_ends_its_life(store: Store) -> None:
    box = await store.new_box("old")
    taken = await store.new_box("taken", user=await store.new_user("o@example.org"))
    message_id = await store.deliver(box)
    async with store.engine.begin() as conn:
        with pytest.raises(Conflict):
            await mailboxes.rename_mailbox(conn, store.user, box.address, "taken", DOMAIN)
        # The failed rename left the transaction usable and the mailbox where it was.
        renamed = await mailboxes.rename_mailbox(conn, store.user, box.address, "new", DOMAIN)
    assert renamed.address == f"new@{DOMAIN}"
    assert (renamed.id, renamed.expire_at, renamed.message_count) == (box.id, box.expire_at, 1)
    assert renamed.life_secret != box.life_secret
    found = await store.reads.get_message(message_id, user_id=store.user.id, mailbox_id=None)
    assert found is not None and found.mailbox_id == box.id
    assert await store.reads.live_recipient(box.address) is None
    assert await store.reads.live_recipient(taken.address) is not None
    async with store.engine.begin() as conn:
        same = await mailboxes.rename_mailbox(conn, store.user, renamed.address, "new", DOMAIN)
        assert same == renamed  # to its own address: nothing changes
        with pytest.raises(NotFound):  # someone else's mailbox looks like no mailbox
            await mailboxes.rename_mailbox(conn, store.user, taken.address, "mine", DOMAIN)
        with pytest.raises(NotFound):
            await mailboxes.rename_mailbox(conn, store.user, box.address, "again", DOMAIN)
        with pytest.raises(Invalid):
            await mailboxes.rename_mailbox(conn, store.user, renamed.address, "a b", DOMAIN)
        with pytest.raises(Invalid):
            await mailboxes.rename_mailbox(conn, store.user, renamed.address, "x", "no.example")


async def test_an_expired_address_is_free_at_once(store: Store) -> None:
    old = await store.new_box("reused")
    other = await store.new_user("o@example.org")
    await store.expire(old)
    async with store.engine.connect() as conn:
        assert await mailboxes.owned_id(conn, store.user.id, old.address) is None
        assert await mailboxes.list_for_user(conn, store.user.id) == []
        assert await mailboxes.count_live(conn, store.user.id) == 0
    assert await store.reads.live_recipient(old.address) is None
    assert await store.reads.owned_mailbox(store.user.id, old.address) is None
    async with store.engine.begin() as conn:
        assert not await mailboxes.delete_mailbox(conn, store.user.id, old.address)
    reused = await store.new_box("reused", user=other)  # the expired one is purged for it
    assert reused.id != old.id and reused.user_id == other.id
    moved = await store.new_box()
    await store.expire(await store.new_box("target"))
    async with store.engine.begin() as conn:
        renamed = await mailboxes.rename_mailbox(conn, store.user, moved.address, "target", DOMAIN)
    assert renamed.address == f"target@{DOMAIN}"


async def test_delete_and_sweep(store: Store) -> None:
    kept, deleted, expired = [await store.new_box(n) for n in ("kept", "deleted", "expired")]
    other = await store.new_user("o@example.org")
    await store.deliver(deleted)
    gone_message = await store.deliver(expired)
    async with store.engine.begin() as conn:
        assert not await mailboxes.delete_mailbox(conn, other.id, deleted.address)
        assert not await mailboxes.delete_mailbox(conn, store.user.id, "not an address")
        assert await mailboxes.delete_mailbox(conn, store.user.id, deleted.address.upper())
        assert not await mailboxes.delete_mailbox(conn, store.user.id, deleted.address)
    await store.expire(expired)
    async with store.engine.connect() as conn:
        assert await mailboxes.expired_ids(conn, 10) == [expired.id]
    assert await sweep_once(store.engine, 1) == 1
    async with store.engine.connect() as conn:
        assert await mailboxes.expired_ids(conn, 10) == []
        assert await mailboxes.get_by_id(conn, expired.id) is None
        assert await mailboxes.get_by_id(conn, deleted.id) is None
        assert await mailboxes.get_by_id(conn, kept.id) == kept
        assert await mailboxes.delete_expired(conn, 10) == []
    assert await store.reads.messages_by_ids([gone_message]) == {}  # mail went with it
    assert await store.reads.list_versions(deleted.id) == []
