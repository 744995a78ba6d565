"""Each backend of the event bus, between processes that share one database: events reach
every worker (SQLite's commit process), every node (PostgreSQL NOTIFY, Redis pub/sub), and a
key revoked by the CLI is refused by a node that had it cached."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from ephemail.events import Event, Overflowed, make_bus
from ephemail.events.model import MAILBOX_CREATED, received
from tests.support import Running, make_settings
from tests.support.databases import REDIS_URL, require_service
from tests.support.events import box_stream, events, mail, next_event
from tests.support.nodes import nodes


async def mail_on_one_is_pushed_by_the_other(one: Running, other: Running) -> None:
    email, key = await one.new_user()
    box = await one.new_mailbox(email)
    async with other.client(key) as client, box_stream(client, box) as response:
        stream = events(response)
        await asyncio.wait_for(anext(stream), 5)  # open, and subscribed
        waiting = asyncio.create_task(
            client.get("/api/messages/wait", params={"email": box, "timeout": 20})
        )
        await asyncio.sleep(0.3)
        await one.send(mail(box, "across"), [box])
        event = await next_event(stream, within=5)
        assert event["event"] == "message.received" and event["data"]["subject"] == "across"
        answer = await asyncio.wait_for(waiting, 5)
        assert answer.status_code == 200 and answer.json()["data"]["subject"] == "across"


async def test_sqlite_workers_hear_each_other_through_the_commit_process(tmp_path: Path) -> None:
    async with nodes(make_settings(tmp_path), 2) as (one, two):
        assert one.service.bus.name == "commit-process"
        await mail_on_one_is_pushed_by_the_other(one, two)
        await mail_on_one_is_pushed_by_the_other(two, one)


async def test_postgresql_nodes_hear_each_other_through_notify(tmp_path: Path, pg_url: str) -> None:
    async with nodes(make_settings(tmp_path, database_url=pg_url), 2) as (one, two):
        assert one.service.bus.name == "postgresql"
        await mail_on_one_is_pushed_by_the_other(one, two)


async def test_redis_nodes_hear_each_other_through_pub_sub(
    tmp_path: Path, pg_url: str, redis_prefix: str
) -> None:
    prefix = redis_prefix
    settings = make_settings(
        tmp_path, database_url=pg_url, redis_url=REDIS_URL, redis_prefix=prefix
    )
    async with nodes(settings, 2) as (one, two):
        assert one.service.bus.name == "redis"
        await mail_on_one_is_pushed_by_the_other(one, two)


@pytest.mark.parametrize("backend", ["redis", "postgresql"])
async def test_a_bus_delivers_between_two_connections(backend: str, pg_url: str) -> None:
    """The bare interface: what one bus publishes, another bus's subscriber receives."""
    redis_url = ""
    if backend == "redis":
        require_service("Redis")
        redis_url = REDIS_URL
    prefix = f"ephemail-test-{secrets.token_hex(4)}"
    sender = make_bus(pg_url, redis_url=redis_url, redis_prefix=prefix)
    receiver = make_bus(pg_url, redis_url=redis_url, redis_prefix=prefix)
    await sender.start()
    await receiver.start()
    try:
        with receiver.subscribe(42) as sub, sender.subscribe(43) as elsewhere:
            await sender.publish(Event(MAILBOX_CREATED, 42, {"mailbox": "a@b.test"}))
            got = await sub.next(5)
            assert got == Event(MAILBOX_CREATED, 42, {"mailbox": "a@b.test"})
            assert await elsewhere.next(0.2) is None  # another mailbox hears nothing
            # the longest summary still fits (NOTIFY refuses more than 8000 bytes)
            huge = received(
                mailbox_id=42,
                address="a@b.test",
                message_id="m" * 46,
                seq=7,
                from_name="𝔑" * 5000,
                from_email="x" * 320,
                subject="𝔖" * 5000,
                received_at=0,
            )
            await sender.publish(huge)
            assert await sub.next(5) == huge
    finally:
        await sender.close()
        await receiver.close()


async def test_a_key_revoked_by_the_cli_is_refused_by_every_node_at_once(
    tmp_path: Path, pg_url: str
) -> None:
    settings = make_settings(tmp_path, database_url=pg_url, auth_cache_seconds=300)
    async with nodes(settings, 2) as (one, two):
        email, key = await one.new_user()
        box = await one.new_mailbox(email)
        for node in (one, two):  # both nodes have the key in their caches now
            async with node.client(key) as client:
                assert (await client.get("/api/domains")).status_code == 200
        watcher = two.client(key)
        stream_cm = watcher.stream("GET", "/api/events", params={"email": box})
        response = await stream_cm.__aenter__()
        stream = events(response)
        await asyncio.wait_for(anext(stream), 5)
        from sqlalchemy import select

        from ephemail.store.schema import api_keys, users

        async with one.engine.connect() as conn:
            key_id = (
                await conn.execute(select(api_keys.c.id).join(users).where(users.c.email == email))
            ).scalar_one()
        env = {
            **os.environ,
            "EPHEMAIL_DATABASE_URL": pg_url,
            "EPHEMAIL_DATA_DIR": str(tmp_path),
            "EPHEMAIL_SECRET_KEY": settings.secret_key,
        }
        done = await asyncio.to_thread(
            subprocess.run,
            [str(Path(sys.executable).parent / "ephemail"), "key", "revoke", str(key_id)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        for node in (one, two):
            async with node.client(key) as client:
                for _ in range(20):  # the NOTIFY is on its way as the CLI exits: within 1 s
                    refused = await client.get("/api/domains")
                    if refused.status_code == 401:
                        break
                    await asyncio.sleep(0.05)
                assert refused.status_code == 401
        # and the stream that key opened ends with a last event
        last = await next_event(stream, within=2)
        assert last["event"] == "key.revoked"
        assert [item async for item in stream if "event" in item] == []
        await stream_cm.__aexit__(None, None, None)
        await watcher.aclose()


async def test_the_postgresql_bus_listens_again_after_its_session_is_killed(pg_url: str) -> None:
    import asyncpg

    from ephemail.events.pg_bus import PgNotifyBus, asyncpg_dsn

    sender, receiver = PgNotifyBus(pg_url), PgNotifyBus(pg_url)
    await sender.start()
    await receiver.start()
    try:
        with receiver.subscribe(1) as sub:
            admin = await asyncpg.connect(asyncpg_dsn(pg_url))
            try:  # as a PostgreSQL restart or an administrator would
                pid = receiver._listen.get_server_pid()
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                event = Event(MAILBOX_CREATED, 1, {"mailbox": "a@b.test"})
                for _ in range(100):  # it comes back on its own, within a few seconds
                    await sender.publish(event)
                    try:
                        got = await sub.next(0.1)
                    except Overflowed:  # told that events may have been missed: read on
                        sub.overflowed = False
                        got = None
                    if got is not None:
                        break
                assert got == event
                assert receiver._listen.get_server_pid() != pid
            finally:
                await admin.close()
    finally:
        await sender.close()
        await receiver.close()
