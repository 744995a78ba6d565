"""Caches never outlive what they hold: a revoked key, a disabled account, a changed plan,
a deleted message or mailbox. Each cache is primed first, then its object changes or dies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ephemail.api import auth as auth_module
from ephemail.store import accounts
from ephemail.store.models import User
from ephemail.store.schema import api_keys
from tests.support import Running, make_settings, start_service
from tests.support.contract import rate
from tests.support.plans import put_plan
from tests.support.samples import text_mail

WINDOW = 0.5  # the key cache's lifetime in these tests


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start_service(make_settings(tmp_path, auth_cache_seconds=WINDOW))
    try:
        await running.roomy_default_plan()
        yield running
    finally:
        await running.service.stop(grace=1)


async def key_hash(svc: Running, email: str) -> tuple[int, str]:
    async with svc.engine.connect() as conn:
        user = await accounts.require_user(conn, email)
        row = (
            await conn.execute(
                select(api_keys.c.id, api_keys.c.key_hash).where(api_keys.c.user_id == user.id)
            )
        ).one()
    return int(row.id), str(row.key_hash)


async def status_after_window(svc: Running, key: str, path: str = "/api/domains") -> int:
    """The answer once the cache window has surely passed (generously: twice over)."""
    await asyncio.sleep(WINDOW * 2 + 0.2)
    async with svc.client(key) as client:
        return (await client.get(path)).status_code


# --- the API key cache -------------------------------------------------------------------


async def test_a_revoked_key_is_refused_once_forgotten_and_after_the_window(svc: Running) -> None:
    email, key = await svc.new_user()
    _, other = await svc.new_user()
    async with svc.client(key) as client:
        assert (await client.get("/api/domains")).status_code == 200  # cached now
    key_id, digest = await key_hash(svc, email)
    async with svc.engine.begin() as conn:
        await accounts.revoke_key(conn, key_id)
    svc.service_auth().forget(digest)
    async with svc.client(key) as client:
        assert (await client.get("/api/domains")).status_code == 401
    # Another process revoked it (no forget here): the window bounds how long it works.
    email2, key2 = await svc.new_user()
    async with svc.client(key2) as client:
        assert (await client.get("/api/domains")).status_code == 200
    key2_id, _ = await key_hash(svc, email2)
    async with svc.engine.begin() as conn:
        await accounts.revoke_key(conn, key2_id)
    assert await status_after_window(svc, key2) == 401
    async with svc.client(other) as client:  # other keys are untouched
        assert (await client.get("/api/domains")).status_code == 200


async def test_a_lookup_begun_before_a_revocation_does_not_answer_after_forget(
    svc: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request arriving after `forget` must not share the answer of a lookup in flight.

    The first lookup reads the key while it is still valid and is held there (the real
    lookup, awaited, then a pause); the key is revoked and forgotten; a second request then
    arrives. It used to join the lookup in flight and be let in with the revoked key.
    """
    email, key = await svc.new_user()
    key_id, digest = await key_hash(svc, email)
    read_key = asyncio.Event()
    release = asyncio.Event()
    real_lookup = auth_module.user_for_key

    async def held_lookup(conn: AsyncConnection, presented: str) -> User | None:
        user = await real_lookup(conn, presented)
        if not read_key.is_set():
            read_key.set()
            await release.wait()
        return user

    monkeypatch.setattr(auth_module, "user_for_key", held_lookup)
    async with svc.client(key) as client:
        first = asyncio.create_task(client.get("/api/domains"))
        await asyncio.wait_for(read_key.wait(), 10)
        async with svc.engine.begin() as conn:
            await accounts.revoke_key(conn, key_id)
        svc.service_auth().forget(digest)
        second = asyncio.create_task(client.get("/api/domains"))
        await asyncio.sleep(0.2)  # the second request is waiting on the service now
        release.set()
        assert (await first).status_code == 200  # it began before the revocation
        assert (await second).status_code == 401
        assert (await client.get("/api/domains")).status_code == 401


async def test_a_disabled_account_is_refused_after_the_window(svc: Running) -> None:
    email, key = await svc.new_user()
    async with svc.client(key) as client:
        assert (await client.get("/api/domains")).status_code == 200
        token = (await client.post("/api/emails")).json()["data"]["email_token"]
    async with svc.client() as anonymous:  # the owner is cached for the token path too
        assert (await anonymous.get(f"/api/token/{token}/messages")).status_code == 200
    async with svc.engine.begin() as conn:
        await accounts.set_user_disabled(conn, email, True)
    assert await status_after_window(svc, key) == 403
    async with svc.client() as anonymous:
        assert (await anonymous.get(f"/api/token/{token}/messages")).status_code == 404
    async with svc.engine.begin() as conn:
        await accounts.set_user_disabled(conn, email, False)
    assert await status_after_window(svc, key) == 200
    async with svc.client() as anonymous:
        assert (await anonymous.get(f"/api/token/{token}/messages")).status_code == 200


async def test_a_changed_plan_applies_after_the_window(svc: Running) -> None:
    email, key = await svc.new_user()
    async with svc.engine.begin() as conn:
        await put_plan(conn, "small", quota=7, lifetime=600, mailboxes=1)
    async with svc.client(key) as client:
        assert (await client.post("/api/emails")).status_code == 200
        assert (await client.post("/api/emails")).status_code == 200  # roomy plan: cached
    async with svc.engine.begin() as conn:
        await accounts.set_user_plan(conn, email, "small")
    await asyncio.sleep(WINDOW * 2 + 0.2)
    async with svc.client(key) as client:
        refused = await client.post("/api/emails")  # two live mailboxes, the plan allows one
        assert refused.status_code == 403
        assert rate(refused.headers)[0] == 7
        listed = (await client.get("/api/domains")).json()["data"]
        assert listed["allowed_types"] == ["free"]


# --- the message JSON cache and attachment URLs ------------------------------------------


def with_attachment(to: str, subject: str) -> bytes:
    return text_mail(to, subject, "cached body", attachment=("a.txt", b"attached bytes")).as_bytes()


async def primed_box(svc: Running, key: str, username: str) -> dict[str, Any]:
    """A mailbox with one message whose JSON is cached through every path that caches it."""
    async with svc.client(key) as client:
        data = (await client.post("/api/emails", params={"username": username})).json()["data"]
    box, token = data["email"], data["email_token"]
    await svc.send(with_attachment(box, f"for {username}"), [box])
    async with svc.client(key) as client:
        (message,) = (await client.get("/api/messages", params={"email": box})).json()["messages"]
        assert (await client.get(f"/api/messages/{message['id']}")).status_code == 200
        assert (await client.get("/api/messages", params={"email": box})).status_code == 200
    async with svc.client() as anonymous:
        listed = (await anonymous.get(f"/api/token/{token}/messages")).json()["messages"]
        token_attachment = listed[0]["attachments"][0]["url"]
        assert (await anonymous.get(token_attachment)).content == b"attached bytes"
    return {
        "box": box,
        "token": token,
        "id": message["id"],
        "attachment": message["attachments"][0]["url"],
        "token_attachment": token_attachment,
    }


async def assert_gone(svc: Running, key: str, primed: dict[str, Any]) -> None:
    async with svc.client(key) as client:
        assert (await client.get(f"/api/messages/{primed['id']}")).status_code == 404
        assert (await client.get(primed["attachment"])).status_code == 404
        assert (await client.delete(f"/api/messages/{primed['id']}")).status_code == 404
    async with svc.client() as anonymous:
        token_base = f"/api/token/{primed['token']}/messages"
        assert (await anonymous.get(f"{token_base}/{primed['id']}")).status_code == 404
        assert (await anonymous.get(primed["token_attachment"])).status_code == 404


async def test_a_deleted_message_is_never_served_from_the_cache(svc: Running) -> None:
    _, key = await svc.new_user()
    primed = await primed_box(svc, key, "deleted-message")
    async with svc.client(key) as client:
        assert (await client.delete(f"/api/messages/{primed['id']}")).status_code == 200
        listing = await client.get("/api/messages", params={"email": primed["box"]})
        assert listing.json()["messages"] == []
    async with svc.client() as anonymous:
        listing = await anonymous.get(f"/api/token/{primed['token']}/messages")
        assert listing.json()["messages"] == []
    await assert_gone(svc, key, primed)


async def deleted_primed_box(svc: Running) -> tuple[str, dict[str, Any]]:
    """(owner's key, a primed mailbox "reborn" that has just been deleted)."""
    _, key = await svc.new_user()
    primed = await primed_box(svc, key, "reborn")
    async with svc.client(key) as client:
        assert (await client.delete(f"/api/emails/{primed['box']}")).status_code == 200
    return key, primed


async def test_a_deleted_mailboxs_messages_are_never_served_even_at_its_address_again(
    svc: Running,
) -> None:
    key, primed = await deleted_primed_box(svc)
    await assert_gone(svc, key, primed)
    async with svc.client() as anonymous:
        dead = await anonymous.get(f"/api/token/{primed['token']}/messages")
        assert dead.status_code == 404
    # A new mailbox at the same address starts empty; the old token does not open it.
    async with svc.client(key) as client:
        again = await client.post("/api/emails", params={"username": "reborn"})
        assert again.json()["data"]["email"] == primed["box"]
        listing = await client.get("/api/messages", params={"email": primed["box"]})
        assert listing.json()["messages"] == []
    await assert_gone(svc, key, primed)
    async with svc.client() as anonymous:
        fresh = again.json()["data"]["email_token"]
        assert (await anonymous.get(f"/api/token/{fresh}/messages")).json()["messages"] == []


async def test_an_old_token_does_not_open_a_new_mailbox_at_the_same_address(
    svc: Running,
) -> None:
    key, primed = await deleted_primed_box(svc)
    async with svc.client(key) as client:
        again = await client.post("/api/emails", params={"username": "reborn"})
        assert again.json()["data"]["email"] == primed["box"]
    async with svc.client() as anonymous:
        assert (await anonymous.get(f"/api/token/{primed['token']}/messages")).status_code == 404
