"""Webhooks over real SMTP and HTTP: what a receiver gets, signed, retried and logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path

from tests.support import Running, start_service
from tests.support.events import mail
from tests.support.receivers import Receiver
from tests.support.webhooks import deliveries, hook_settings, register


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The recipe of docs/webhooks.md, as a receiver would write it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


async def test_a_received_message_reaches_the_receiver_signed(
    hooked: Running, receiver: Receiver
) -> None:
    email, key = await hooked.new_user()
    box = await hooked.new_mailbox(email)
    hook = await register(hooked, key, receiver.url)
    assert hook["secret"].startswith("whsec_") and hook["email"] is None
    await hooked.send(mail(box, "Welcome aboard"), [box])
    (got,) = await receiver.wait_for(1)
    event = got.event
    assert event["type"] == "message.received"
    assert event["data"]["mailbox"] == box and event["data"]["subject"] == "Welcome aboard"
    assert event["created_at"].endswith("+00:00")
    assert got.headers["ephemail-event-id"] == event["id"]
    assert got.headers["ephemail-event-type"] == "message.received"
    assert got.headers["content-type"] == "application/json"
    assert verify(hook["secret"], got.headers["ephemail-signature"], got.body)
    assert not verify("whsec_wrong", got.headers["ephemail-signature"], got.body)
    assert not verify(hook["secret"], got.headers["ephemail-signature"], got.body + b" ")
    async with hooked.client(key) as client:
        listed = (await client.get("/api/messages", params={"email": box})).json()
        assert listed["messages"][0]["id"] == event["data"]["id"]
        log = await deliveries(client, hook["id"], 1)
    assert log[0]["event_id"] == event["id"] and log[0]["status_code"] == 204
    assert log[0]["next_retry_at"] is None and log[0]["attempt"] == 1


async def test_a_failing_receiver_gets_retries_until_it_answers(hooked: Running) -> None:
    flaky = await Receiver(fail_first=3).start()
    try:
        email, key = await hooked.new_user()
        box = await hooked.new_mailbox(email)
        hook = await register(hooked, key, flaky.url, email=box, events=["message.received"])
        assert hook["email"] == box and hook["events"] == ["message.received"]
        await hooked.send(mail(box), [box])
        got = await flaky.wait_for(4, within=20)
        assert len({g.headers["ephemail-event-id"] for g in got}) == 1  # one event, retried
        assert [g.headers["ephemail-delivery-attempt"] for g in got] == ["1", "2", "3", "4"]
        async with hooked.client(key) as client:
            log = await deliveries(client, hook["id"], 4)
        assert [entry["status_code"] for entry in reversed(log)] == [500, 500, 500, 204]
        assert all(entry["next_retry_at"] for entry in log[1:])  # the failures were retried
        assert log[0]["next_retry_at"] is None
    finally:
        await flaky.stop()


async def test_postgresql_delivers_from_its_writer_and_retries(tmp_path: Path, pg_url: str) -> None:
    flaky = await Receiver(fail_first=1).start()
    running = await start_service(hook_settings(tmp_path, database_url=pg_url))
    try:
        email, key = await running.new_user()
        box = await running.new_mailbox(email)
        hook = await register(running, key, flaky.url)
        for n in range(3):
            await running.send(mail(box, f"pg {n}"), [box])
        await flaky.wait_for(4, within=20)
        await asyncio.sleep(0.05)
        subjects = sorted(g.event["data"]["subject"] for g in flaky.got[1:])
        assert subjects == ["pg 0", "pg 1", "pg 2"]  # the first try failed, then each once
        async with running.client(key) as client:
            log = await deliveries(client, hook["id"], 4)
        assert sorted(entry["status_code"] for entry in log) == [204, 204, 204, 500]
    finally:
        await running.service.stop(grace=1)
        await flaky.stop()
