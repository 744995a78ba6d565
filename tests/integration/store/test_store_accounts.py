"""Store contract, accounts side: plans, users, API keys and domains, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ephemail.store import accounts, domains
from ephemail.store.errors import Conflict, Forbidden, Invalid, NotFound
from ephemail.store.schema import users
from tests.support.plans import put_plan
from tests.support.store import DOMAIN, Store


async def test_users_plans_and_passwords(store: Store) -> None:
    async with store.engine.begin() as conn:
        small = await put_plan(conn, "small", quota=10, lifetime=60, mailboxes=2)
        made = await accounts.create_user(
            conn,
            " Mixed@Example.ORG ",
            plan_name="small",
            timezone="Europe/Berlin",
            password="correct horse",
        )
        assert (made.email, made.timezone, made.plan) == (
            "mixed@example.org",
            "Europe/Berlin",
            small,
        )
        assert not made.disabled and not made.is_admin
        # The same address, whatever its case; and the transaction goes on (PostgreSQL
        # aborted it at the failed INSERT, so `made` was silently rolled back there).
        with pytest.raises(Conflict):
            await accounts.create_user(conn, "MIXED@example.org", plan_name="default")
    async with store.engine.begin() as conn:
        for bad in ("no-at-sign", "a@b@c", "sp ace@example.org"):
            with pytest.raises(Invalid):
                await accounts.create_user(conn, bad, plan_name="default")
        with pytest.raises(Invalid):
            await accounts.create_user(
                conn, "z@example.org", plan_name="default", timezone="Mars/X"
            )
        with pytest.raises(NotFound):
            await accounts.create_user(conn, "z@example.org", plan_name="no-such-plan")
        stored = (
            await conn.execute(select(users.c.password_hash).where(users.c.id == made.id))
        ).scalar_one()
        assert stored and "correct horse" not in stored
        assert accounts.verify_password(stored, "correct horse")
        assert not accounts.verify_password(stored, "wrong horse")
        assert not accounts.verify_password(None, "")  # a user made without one has none
        listed = await accounts.list_users(conn)
        assert [u.email for u in listed] == [
            "admin@localhost.localdomain",
            "u@example.org",
            "mixed@example.org",
        ]
        assert await accounts.count_users(conn) == 3
        assert await accounts.get_user_by_id(conn, made.id) == made
        assert await accounts.get_user(conn, "nobody@example.org") is None
        with pytest.raises(NotFound):
            await accounts.require_user(conn, "nobody@example.org")


async def test_a_plan_change_reaches_its_users_at_once(store: Store) -> None:
    async with store.engine.begin() as conn:
        await put_plan(conn, "pro", quota=5, lifetime=60, mailboxes=1)
        moved = await accounts.set_user_plan(conn, "u@example.org", "pro")
        assert moved.plan.name == "pro" and moved.plan.max_mailboxes == 1
        updated = await put_plan(
            conn, "pro", quota=7, lifetime=120, mailboxes=3, types=("free", "premium")
        )
        assert updated.id == moved.plan.id  # updated in place, not a second plan
        user = await accounts.require_user(conn, "u@example.org")
        assert user.plan == updated and user.plan.domain_types == ("free", "premium")
        assert [p.name for p in await accounts.list_plans(conn)] == ["default", "pro"]
        with pytest.raises(NotFound):
            await accounts.set_user_plan(conn, "u@example.org", "gold")
        with pytest.raises(NotFound):
            await accounts.set_user_plan(conn, "nobody@example.org", "pro")
        for bad in ({"monthly_quota": -1}, {"mailbox_lifetime": 0}, {"max_mailboxes": -1}):
            limits = {"monthly_quota": 1, "mailbox_lifetime": 1, "max_mailboxes": 1} | bad
            with pytest.raises(Invalid):
                await accounts.set_plan(conn, "pro", domain_types=("free",), **limits)
        with pytest.raises(Invalid):
            await put_plan(conn, "x" * 65, quota=1, lifetime=1, mailboxes=1)
    assert accounts.parse_domain_types(" Custom, free,free ") == ("custom", "free")
    for bad in ("", "free,gold"):
        with pytest.raises(Invalid):
            accounts.parse_domain_types(bad)


async def test_a_disabled_account_gets_no_mailbox_and_no_mail(store: Store) -> None:
    box = await store.new_box("before")
    async with store.engine.begin() as conn:
        off = await accounts.set_user_disabled(conn, "u@example.org", True)
    assert off.disabled
    assert await store.reads.live_recipient(box.address) is None  # RCPT finds no one
    with pytest.raises(Forbidden):
        await store.new_box(user=off)
    async with store.engine.begin() as conn:
        on = await accounts.set_user_disabled(conn, "u@example.org", False)
    assert not on.disabled
    assert await store.reads.live_recipient(box.address) is not None
    await store.new_box(user=on)


async def test_keys_live_until_revoked(store: Store) -> None:
    async with store.engine.begin() as conn:
        first, key = await accounts.create_key(conn, "u@example.org")
        second, other = await accounts.create_key(conn, "U@example.org")
        assert key.startswith(accounts.KEY_PREFIX) and key != other
        assert first.prefix == key[:10] and first.revoked_at is None
        owner = await accounts.user_for_key(conn, accounts.hash_key(key))
        assert owner is not None and owner.id == store.user.id
        assert await accounts.user_for_key(conn, accounts.hash_key(key + "x")) is None
        assert await accounts.user_for_key(conn, accounts.hash_key("")) is None
        assert [k.id for k in await accounts.list_keys(conn, "u@example.org")] == [
            first.id,
            second.id,
        ]
        assert await accounts.revoke_key(conn, first.id) == accounts.hash_key(key)
    async with store.engine.begin() as conn:
        # dead with its revocation
        assert await accounts.user_for_key(conn, accounts.hash_key(key)) is None
        assert await accounts.user_for_key(conn, accounts.hash_key(other)) is not None
        listed = {k.id: k for k in await accounts.list_keys(conn, "u@example.org")}
        revoked_at = listed[first.id].revoked_at
        assert revoked_at is not None and listed[second.id].revoked_at is None
        assert await accounts.revoke_key(conn, first.id) == accounts.hash_key(key)
        listed = {k.id: k for k in await accounts.list_keys(conn, "u@example.org")}
        assert listed[first.id].revoked_at == revoked_at  # revoking again changes nothing
        with pytest.raises(NotFound):
            await accounts.revoke_key(conn, 10**9)
        with pytest.raises(NotFound):
            await accounts.create_key(conn, "nobody@example.org")
        assert await accounts.list_keys(conn, "admin@localhost.localdomain") != []


async def test_domains_by_type_and_owner(store: Store) -> None:
    other = await store.new_user("o@example.org")
    async with store.engine.begin() as conn:
        premium = await domains.add_domain(conn, "Premium.Example", type_="premium")
        assert (premium.name, premium.type, premium.owner_id) == (
            "premium.example",
            "premium",
            None,
        )
        mine = await domains.add_domain(
            conn, "mine.example", type_="custom", owner_email="u@example.org"
        )
        theirs = await domains.add_domain(
            conn, "theirs.example", type_="custom", owner_email="o@example.org"
        )
        assert mine.owner_id == store.user.id and theirs.owner_id == other.id
        with pytest.raises(Conflict):  # and the three above are still committed below
            await domains.add_domain(conn, "PREMIUM.example", type_="premium")
    async with store.engine.begin() as conn:
        for name, type_, owner in (
            ("x.example", "custom", None),
            ("x.example", "free", "u@example.org"),
            ("x.example", "gold", None),
            ("not a domain", "free", None),
        ):
            with pytest.raises(Invalid):
                await domains.add_domain(conn, name, type_=type_, owner_email=owner)
        with pytest.raises(NotFound):
            await domains.add_domain(
                conn, "x.example", type_="custom", owner_email="no@example.org"
            )
        names = [d.name for d in await domains.list_domains(conn)]
        assert names == [DOMAIN, "mine.example", "premium.example", "theirs.example"]
        user = store.user
        every = await domains.domains_for_user(conn, user, domains.allowed_types(user))
        assert [d.name for d in every] == [DOMAIN, "mine.example", "premium.example"]
        assert [d.name for d in await domains.domains_for_user(conn, user, ["custom"])] == [
            "mine.example"
        ]
        assert [d.name for d in await domains.domains_for_user(conn, user, ["free"])] == [DOMAIN]
        assert await domains.domains_for_user(conn, user, []) == []
        assert domains.may_use(user, mine) and not domains.may_use(user, theirs)
    # Someone else's custom domain answers like one that does not exist.
    for name in ("theirs.example", "nowhere.example"):
        with pytest.raises(Invalid, match="is not served here"):
            await store.new_box("probe", domain=name)
    box = await store.new_box("kept", domain="mine.example")
    assert box.address == "kept@mine.example"
    async with store.engine.begin() as conn:
        await domains.remove_domain(conn, "MINE.example")
        with pytest.raises(NotFound):
            await domains.remove_domain(conn, "mine.example")
        assert await domains.get_domain(conn, "mine.example") is None
    # Its mailboxes went with it, on both backends (a foreign-key cascade).
    assert await store.reads.live_recipient("kept@mine.example") is None
    assert await store.reads.owned_mailbox(store.user.id, "kept@mine.example") is None


async def test_a_plan_limits_the_domain_types(store: Store) -> None:
    async with store.engine.begin() as conn:
        await put_plan(conn, "free-only", quota=5, lifetime=60, mailboxes=5)
        await domains.add_domain(conn, "premium.example", type_="premium")
        user = await accounts.create_user(conn, "f@example.org", plan_name="free-only")
        assert domains.allowed_types(user) == ["free"]
    with pytest.raises(Forbidden):
        await store.new_box("p", user=user, domain="premium.example")
    for _ in range(5):  # a random domain is always one the plan allows
        assert (await store.new_box(user=user)).domain == DOMAIN
