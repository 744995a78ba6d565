"""A hanging receiver holds only its own slots: SMTP and other users' hooks go on; a burst
arrives exactly once; a stop mid-retry loses nothing."""

from __future__ import annotations

import asyncio
import smtplib
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ephemail.mail.smtp.server import bind_socket
from ephemail.service import Service
from ephemail.store import outbox, schema
from ephemail.store.db import migrate_async
from tests.support import Running, start_service
from tests.support.events import mail
from tests.support.receivers import Receiver
from tests.support.webhooks import hook_settings, register


async def test_a_hanging_receiver_slows_neither_smtp_nor_other_receivers(
    hooked: Running, receiver: Receiver
) -> None:
    hanging = await Receiver(hang=True).start()
    try:
        slow_email, slow_key = await hooked.new_user()
        slow_box = await hooked.new_mailbox(slow_email)
        await register(hooked, slow_key, hanging.url)
        email, key = await hooked.new_user()
        box = await hooked.new_mailbox(email)
        await register(hooked, key, receiver.url)
        for n in range(10):  # more than the hook's 4 slots: they queue in the outbox
            await hooked.send(mail(slow_box, f"slow {n}"), [slow_box])
        await hanging.wait_for(4)
        started = time.monotonic()
        for n in range(5):
            await hooked.send(mail(box, f"fast {n}"), [box])
        smtp_seconds = time.monotonic() - started
        got = await receiver.wait_for(5, within=10)
        assert sorted(g.event["data"]["subject"] for g in got) == [f"fast {n}" for n in range(5)]
        # Five SMTP transactions while a receiver hangs: acknowledged as promptly as ever
        # (a generous bound for a loaded machine; the hang lasts the 1 s timeout each try).
        assert smtp_seconds < 5, smtp_seconds
        assert hanging.most_open <= hooked.settings.webhook_per_receiver
        async with hooked.client(slow_key) as client:
            hooks = (await client.get("/api/webhooks")).json()["data"]
            deadline = time.monotonic() + 10
            while True:
                log = (await client.get(f"/api/webhooks/{hooks[0]['id']}/deliveries")).json()
                if log["data"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        assert log["data"][0]["status_code"] is None
        assert log["data"][0]["error"].startswith("timeout")
        assert log["data"][0]["next_retry_at"] is not None
    finally:
        await hanging.stop()


async def test_a_burst_delivers_every_event_exactly_once(
    hooked: Running, receiver: Receiver
) -> None:
    email, key = await hooked.new_user()
    box = await hooked.new_mailbox(email)
    await register(hooked, key, receiver.url, events=["message.received"])
    count = 500

    def burst() -> None:
        with smtplib.SMTP("127.0.0.1", hooked.smtp_port, timeout=60) as smtp:
            for n in range(count):
                smtp.sendmail("sender@example.org", [box], mail(box, f"burst {n}"))

    await asyncio.to_thread(burst)
    got = await receiver.wait_for(count, within=120)
    await asyncio.sleep(1.0)  # a duplicate would arrive now
    assert len(receiver.got) == count
    assert len({g.headers["ephemail-event-id"] for g in got}) == count
    subjects = sorted(g.event["data"]["subject"] for g in got)
    assert subjects == sorted(f"burst {n}" for n in range(count))


async def test_a_stop_during_a_claim_leaves_no_row_leased(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that lands while a claim is being written must not strand the rows it leased:
    they would wait out their lease (45 s) before the next start delivered them."""
    settings = hook_settings(tmp_path, webhook_retry_base_seconds=0.5)
    failing = await Receiver(fail_first=10_000).start()
    running = await start_service(settings)
    claimed = asyncio.Event()
    real_claim = outbox.claim

    async def slow_claim(*args: Any, **kwargs: Any) -> list[outbox.Pending]:
        rows = await real_claim(*args, **kwargs)
        if rows:
            claimed.set()
            await asyncio.sleep(0.5)  # a claim whose answer is slow to come back
        return rows

    monkeypatch.setattr(outbox, "claim", slow_claim)
    stopped = False
    try:
        email, key = await running.new_user()
        box = await running.new_mailbox(email)
        await register(running, key, failing.url)
        await running.send(mail(box, "leased"), [box])
        await asyncio.wait_for(claimed.wait(), 10)
        engine = running.service.engine
        await running.service.stop(grace=1)
        stopped = True
        now_ms = int(time.time() * 1000)
        async with engine.connect() as conn:
            leases = [
                int(r[0])
                for r in await conn.execute(select(schema.webhook_outbox.c.claimed_until_ms))
            ]
        assert leases and all(lease <= now_ms for lease in leases), (leases, now_ms)
    finally:
        if not stopped:
            await running.service.stop(grace=1)
        await failing.stop()


async def _start_again(settings: Any) -> Service:
    """The same database and data directory, a new process's worth of service."""
    await migrate_async(settings.resolved_database_url())
    service = Service(settings)
    await service.start(
        bind_socket("127.0.0.1", 0, reuse_port=False),
        bind_socket("127.0.0.1", 0, reuse_port=False),
    )
    return service


async def test_a_stop_mid_retry_loses_nothing(tmp_path: Path) -> None:
    settings = hook_settings(tmp_path, webhook_retry_base_seconds=0.5)
    failing = await Receiver(fail_first=10_000).start()
    running = await start_service(settings)
    second: Service | None = None
    try:
        email, key = await running.new_user()
        box = await running.new_mailbox(email)
        await register(running, key, failing.url)
        await running.send(mail(box, "survives"), [box])
        first = (await failing.wait_for(1))[0]
        await running.service.stop(grace=1)
        failing.fail_first = 0  # the receiver recovers while the service is down
        tried = len(failing.got)
        second = await _start_again(settings)
        got = await failing.wait_for(tried + 1, within=20)
        assert got[-1].headers["ephemail-event-id"] == first.headers["ephemail-event-id"]
        assert got[-1].event["data"]["subject"] == "survives"
        await asyncio.sleep(1.0)
        assert len(failing.got) == tried + 1  # delivered once, then no more tries
    finally:
        if second is not None:
            await second.stop(grace=1)
        else:
            await running.service.stop(grace=1)
        await failing.stop()
