"""The webhook routes: ownership, the secret shown once, the test event, metering, the
receiver guard, and hooks that die with their mailbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ephemail.store import webhooks as store
from tests.support import Running, serving
from tests.support.events import mail
from tests.support.receivers import Receiver
from tests.support.webhooks import hook_settings


def one_hook_routes(hook_id: object) -> list[tuple[str, str]]:
    """Every route that names one webhook: (method, path)."""
    base = f"/api/webhooks/{hook_id}"
    return [("DELETE", base), ("POST", f"{base}/test"), ("GET", f"{base}/deliveries")]


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Running]:
    """Receivers on private addresses refused, as by default."""
    async with serving(hook_settings(tmp_path, webhook_allow_private=False)) as svc:
        yield svc


async def test_create_list_test_event_and_delete(hooked: Running, receiver: Receiver) -> None:
    email, key = await hooked.new_user()
    async with hooked.client(key) as client:
        created = await client.post("/api/webhooks", json={"url": receiver.url})
        assert created.status_code == 200
        used = int(created.headers["X-RateLimit-Used"])
        hook = created.json()["data"]
        assert set(hook) == {"id", "url", "email", "events", "secret", "created_at"}
        assert hook["created_at"].endswith("+00:00") and len(hook["events"]) == 6
        listed = await client.get("/api/webhooks")
        assert int(listed.headers["X-RateLimit-Used"]) == used + 1  # counted like any call
        (item,) = listed.json()["data"]
        assert "secret" not in item and item["id"] == hook["id"]
        tested = await client.post(f"/api/webhooks/{hook['id']}/test")
        assert tested.status_code == 200 and tested.json()["status"] is True
        (got,) = await receiver.wait_for(1)
        assert got.event["type"] == "webhook.test"
        assert got.event["data"]["webhook_id"] == hook["id"]
        deleted = await client.delete(f"/api/webhooks/{hook['id']}")
        assert deleted.json() == {"status": True, "message": "Webhook was deleted successfully."}
        # The dead hook: every route says 404, and it hears of nothing more.
        for method, path in one_hook_routes(hook["id"]):
            gone = await client.request(method, path)
            assert gone.status_code == 404 and gone.json()["status"] is False
        assert (await client.get("/api/webhooks")).json()["data"] == []
    box = await hooked.new_mailbox(email)
    await hooked.send(mail(box), [box])
    await asyncio.sleep(1.0)
    assert len(receiver.got) == 1


async def test_another_users_hook_is_not_found(hooked: Running, receiver: Receiver) -> None:
    owner_email, owner = await hooked.new_user()
    _, other = await hooked.new_user()
    async with hooked.client(owner) as client:
        hook = (await client.post("/api/webhooks", json={"url": receiver.url})).json()["data"]
    async with hooked.client(other) as client:
        for method, path in (
            ("DELETE", f"/api/webhooks/{hook['id']}"),
            ("POST", f"/api/webhooks/{hook['id']}/test"),
            ("GET", f"/api/webhooks/{hook['id']}/deliveries"),
        ):
            response = await client.request(method, path)
            assert response.status_code == 404, (method, path)
        assert (await client.get("/api/webhooks")).json()["data"] == []
        foreign_box = await hooked.new_mailbox(owner_email)
        response = await client.post(
            "/api/webhooks", json={"url": receiver.url, "email": foreign_box}
        )
        assert response.status_code == 404  # someone else's mailbox is not found either
    async with hooked.client(owner) as client:
        assert len((await client.get("/api/webhooks")).json()["data"]) == 1


@pytest.mark.parametrize("ending", ["delete", "rename"])
async def test_a_mailbox_hook_dies_with_its_mailbox(
    hooked: Running, receiver: Receiver, ending: str
) -> None:
    _, key = await hooked.new_user()
    async with hooked.client(key) as client:
        box = (await client.post("/api/emails", json={"username": "hooked-box"})).json()
        address = box["data"]["email"]
        response = await client.post("/api/webhooks", json={"url": receiver.url, "email": address})
        hook = response.json()["data"]
        if ending == "delete":
            assert (await client.delete(f"/api/emails/{address}")).status_code == 200
        else:
            domain = address.split("@")[1]
            renamed = await client.post(f"/api/emails/{address}/moved-away/{domain}")
            assert renamed.status_code == 200
        assert (await client.get("/api/webhooks")).json()["data"] == []
        assert (await client.post(f"/api/webhooks/{hook['id']}/test")).status_code == 404
        # The address lives again, as a new mailbox: the old hook hears nothing of it.
        again = await client.post("/api/emails", json={"username": "hooked-box"})
        assert again.json()["data"]["email"] == address
    await hooked.send(mail(address), [address])
    await asyncio.sleep(1.0)
    assert receiver.got == []


async def test_account_hooks_hear_of_mailbox_and_message_changes(
    hooked: Running, receiver: Receiver
) -> None:
    _, key = await hooked.new_user()
    async with hooked.client(key) as client:
        await client.post("/api/webhooks", json={"url": receiver.url})
        address = (await client.post("/api/emails")).json()["data"]["email"]
        await hooked.send(mail(address), [address])
        await receiver.wait_for(2)
        listed = (await client.get("/api/messages", params={"email": address})).json()
        await client.delete(f"/api/messages/{listed['messages'][0]['id']}")
        await client.delete(f"/api/emails/{address}")
    got = await receiver.wait_for(4)
    kinds = sorted(g.event["type"] for g in got)
    assert kinds == sorted(
        ["mailbox.created", "message.received", "message.deleted", "mailbox.deleted"]
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "ftp://example.org/",
        "file:///etc/passwd",
        "http://user:pw@example.org/",
        "http://" + "a" * 2100 + ".example/",
    ],
)
async def test_refused_receivers_answer_422(guarded: Running, url: str) -> None:
    _, key = await guarded.new_user()
    async with guarded.client(key) as client:
        response = await client.post("/api/webhooks", json={"url": url})
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["status"] is False and body["errors"]["url"]
        assert (await client.get("/api/webhooks")).json()["data"] == []


async def test_a_receiver_that_turned_private_is_refused_at_delivery(
    guarded: Running, receiver: Receiver
) -> None:
    """DNS can change after registration: the address is checked again before each POST."""
    email, key = await guarded.new_user()
    box = await guarded.new_mailbox(email)
    async with guarded.engine.begin() as conn:  # as if the name resolved publicly back then
        user_id = (
            await conn.exec_driver_sql("SELECT id FROM users WHERE email = ?", (email,))
        ).scalar_one()
        hook = await store.create(conn, user_id, receiver.url, None, ["message.received"])
    await guarded.send(mail(box), [box])
    async with guarded.client(key) as client:
        deadline = time.monotonic() + 10
        log: list[dict[str, Any]] = []
        while not log and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            log = (await client.get(f"/api/webhooks/{hook.id}/deliveries")).json()["data"]
    assert log and log[0]["status_code"] is None
    assert log[0]["error"].startswith("refused:") and "loopback" in log[0]["error"]
    assert receiver.got == []


async def test_the_routes_are_documented_with_examples(hooked: Running) -> None:
    async with hooked.client() as client:
        document = (await client.get("/api/openapi.json")).json()
    paths = document["paths"]
    assert {"post", "get"} <= set(paths["/api/webhooks"])
    assert "delete" in paths["/api/webhooks/{webhook_id}"]
    assert "post" in paths["/api/webhooks/{webhook_id}/test"]
    assert "get" in paths["/api/webhooks/{webhook_id}/deliveries"]
    text = str(document)
    assert "whsec_" in text and "https://ci.example.org/hooks/mail" in text


@pytest.mark.parametrize("hook_id", ["113678630608087302144", "-1", "1.5", "x", "0"])
async def test_an_id_that_names_no_webhook_is_not_found(hooked: Running, hook_id: str) -> None:
    """Ids too big for the column (once a 500, found by the API fuzzer) or not numbers."""
    _, key = await hooked.new_user()
    async with hooked.client(key) as client:
        for method, path in one_hook_routes(hook_id):
            response = await client.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json() == {"status": False, "message": "Webhook not found."}
