"""Store contract, website side: sign-in sessions and usage per day, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select, update

from ephemail.store import accounts, web_sessions
from ephemail.store.schema import api_keys
from ephemail.store.schema import web_sessions as sessions_table
from ephemail.store.usage import UsageMeter, usage_by_day, utc_day
from tests.support.store import Store


async def test_a_session_opens_its_enabled_account_until_it_ends(store: Store) -> None:
    async with store.engine.begin() as conn:
        first = await web_sessions.create_session(conn, store.user.id, 3600)
        second = await web_sessions.create_session(conn, store.user.id, 3600)
        assert first != second
        assert (await web_sessions.session_user(conn, first)) == store.user
        # Only the hash is stored: the id itself opens nothing from a copy of the table.
        stored = [r.id_hash for r in await conn.execute(select(sessions_table.c.id_hash))]
        assert first not in stored and web_sessions.hash_session_id(first) in stored
        assert await web_sessions.session_user(conn, stored[0]) is None
        await web_sessions.delete_session(conn, first)
        assert await web_sessions.session_user(conn, first) is None
        assert await web_sessions.session_user(conn, second) == store.user
        assert await web_sessions.session_user(conn, "x" * 10_000) is None


async def test_expired_and_disabled_sessions_open_nothing(store: Store) -> None:
    async with store.engine.begin() as conn:
        old = await web_sessions.create_session(conn, store.user.id, 3600)
        await conn.execute(update(sessions_table).values(expires_at=0))
        assert await web_sessions.session_user(conn, old) is None
        await web_sessions.create_session(conn, store.user.id, 3600)  # purges the expired
        assert await web_sessions.count_user_sessions(conn, store.user.id) == 1
        live = await web_sessions.create_session(conn, store.user.id, 3600)
        await accounts.set_user_disabled(conn, store.user.email, True)
        assert await web_sessions.session_user(conn, live) is None
        await accounts.set_user_disabled(conn, store.user.email, False)
        assert await web_sessions.session_user(conn, live) is None  # deleted, not paused


async def test_a_new_password_ends_every_session(store: Store) -> None:
    async with store.engine.begin() as conn:
        ids = [await web_sessions.create_session(conn, store.user.id, 3600) for _ in range(3)]
        await accounts.set_password_hash(conn, store.user.id, accounts.hash_password("x" * 12))
        assert [await web_sessions.session_user(conn, i) for i in ids] == [None] * 3
        found = await accounts.password_hash_of(conn, store.user.email)
    assert found is not None and accounts.verify_password(found[1], "x" * 12)


async def test_usage_from_several_processes_adds_up(store: Store) -> None:
    one, two = UsageMeter(store.engine), UsageMeter(store.engine)
    for meter in (one, two):
        meter.message(store.user.id)
        meter.api_request(store.user.id, kept=True)
        meter.api_request(store.user.id, kept=False)
        meter.api_request(None, kept=False)
        await meter.flush()
    one.message(store.user.id)
    await one.flush()
    await one.flush()  # nothing new: adds nothing
    (today,) = await usage_by_day(store.engine)
    assert today.day == utc_day()
    assert (today.messages, today.api_requests, today.quota_used) == (3, 6, 2)


async def test_a_keys_last_use_only_moves_forward(store: Store) -> None:
    async with store.engine.begin() as conn:
        info, key = await accounts.create_key(conn, store.user.email)
    meter = UsageMeter(store.engine)
    meter.key_seen(accounts.hash_key(key))
    await meter.flush()
    async with store.engine.connect() as conn:
        (listed,) = await accounts.list_keys(conn, store.user.email)
        assert listed.last_used_at is not None
        stamped = listed.last_used_at
    meter.key_seen(accounts.hash_key(key), at=stamped - 100)  # an older note, flushed late
    await meter.flush()
    async with store.engine.connect() as conn:
        value = (
            await conn.execute(select(api_keys.c.last_used_at).where(api_keys.c.id == info.id))
        ).scalar_one()
    assert value == stamped
