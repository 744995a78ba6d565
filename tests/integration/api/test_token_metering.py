"""Token routes count against the mailbox owner's quota; a disabled account's token and
mailboxes stop working (read by token, and receipt over SMTP)."""

from __future__ import annotations

import asyncio
import smtplib
from collections import Counter
from pathlib import Path

import httpx

from ephemail.store import accounts
from tests.support import Running, make_settings, start_service
from tests.support.contract import rate
from tests.support.plans import put_plan

QUOTA = 5


async def tight_user(svc: Running, quota: int = QUOTA) -> tuple[str, str]:
    async with svc.engine.begin() as conn:
        await put_plan(conn, "tight", quota=quota, lifetime=600, mailboxes=5)
    return await svc.new_user(plan="tight")


async def new_box(svc: Running, key: str) -> tuple[str, str]:
    """(address, email_token) of a mailbox made over the API: that request uses one unit."""
    async with svc.client(key) as client:
        response = await client.post("/api/emails")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return data["email"], data["email_token"]


async def test_token_reads_count_against_the_owner_like_keyed_reads(running: Running) -> None:
    _, key = await tight_user(running)
    box, token = await new_box(running, key)  # used: 1
    await running.send(b"Subject: hi\r\n\r\nbody\r\n", [box])
    async with running.client() as anonymous:
        listing = await anonymous.get(f"/api/token/{token}/messages")
        assert listing.status_code == 200
        assert rate(listing.headers)[:3] == (QUOTA, 2, QUOTA - 2)
        message_id = listing.json()["messages"][0]["id"]
        one = await anonymous.get(f"/api/token/{token}/messages/{message_id}")
        assert one.status_code == 200
        assert rate(one.headers)[1] == 3
        # A 404 of a live token shows the headers and does not count.
        missing = await anonymous.get(f"/api/token/{token}/messages/{'a' * 46}")
        assert missing.status_code == 404
        assert rate(missing.headers)[1] == 3
        attachment = await anonymous.get(f"/api/token/{token}/messages/{message_id}/attachments/x")
        assert attachment.status_code == 404
        assert rate(attachment.headers)[1] == 3
    # The key sees the same counter: token and key share the owner's monthly quota.
    async with running.client(key) as client:
        keyed = await client.get("/api/domains")
        assert rate(keyed.headers)[1] == 4
    # A dead token opens no account: 404 and no headers, as before.
    async with running.client() as anonymous:
        forged = await anonymous.get(f"/api/token/{token[:-2]}AA/messages")
        assert forged.status_code == 404
        assert "x-ratelimit-used" not in forged.headers


async def test_token_reads_stop_at_the_quota_with_429_and_retry_after(running: Running) -> None:
    _, key = await tight_user(running)
    _, token = await new_box(running, key)  # used: 1, so 4 remain
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=running.base_url, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(
            *(client.get(f"/api/token/{token}/messages") for _ in range(20))
        )
        assert Counter(r.status_code for r in responses) == {200: QUOTA - 1, 429: 20 - QUOTA + 1}
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.json() == {"status": False, "message": "Monthly quota exceeded."}
        assert int(refused.headers["retry-after"]) >= 1
        assert rate(refused.headers)[:3] == (QUOTA, QUOTA, 0)
    async with running.client(key) as keyed:
        assert (await keyed.get("/api/domains")).status_code == 429


async def test_a_disabled_accounts_token_reads_nothing(running: Running) -> None:
    email, key = await tight_user(running, quota=1000)
    box, token = await new_box(running, key)
    await running.send(b"Subject: secret\r\n\r\nbody\r\n", [box])
    async with running.client() as anonymous:
        listing = await anonymous.get(f"/api/token/{token}/messages")
        assert listing.status_code == 200
        message_id = listing.json()["messages"][0]["id"]
    async with running.engine.begin() as conn:
        await accounts.set_user_disabled(conn, email, True)
    # The account cache is cleared as `ephemail user disable` in this process would; from
    # another process the change arrives within the cache window (test_cache_lifetimes).
    running.service_auth().clear()
    async with running.client() as anonymous:
        paths = [
            f"/api/token/{token}/messages",
            f"/api/token/{token}/messages/{message_id}",
            f"/api/token/{token}/messages/{message_id}/attachments/any.txt",
        ]
        for path in paths:
            response = await anonymous.get(path)
            # Exactly what a deleted mailbox's token answers: nothing about the account leaks.
            assert response.status_code == 404
            assert response.json() == {"status": False, "message": "Email not found."}
            assert "x-ratelimit-used" not in response.headers
    async with running.engine.begin() as conn:
        await accounts.set_user_disabled(conn, email, False)
    running.service_auth().clear()
    async with running.client() as anonymous:
        assert (await anonymous.get(f"/api/token/{token}/messages")).status_code == 200


async def test_smtp_refuses_mail_for_a_disabled_accounts_mailboxes(
    database_url: str, tmp_path: Path
) -> None:
    svc = await start_service(make_settings(tmp_path, database_url=database_url))
    try:
        email, key = await svc.new_user()
        box, _ = await new_box(svc, key)
        _, other_key = await svc.new_user()
        other_box, _ = await new_box(svc, other_key)
        async with svc.engine.begin() as conn:
            await accounts.set_user_disabled(conn, email, True)
        refused = await svc.send(b"Subject: x\r\n\r\nbody\r\n", [box, other_box])
        assert list(refused) == [box]
        code, _ = refused[box]
        assert 500 <= code < 600
        try:
            await svc.send(b"Subject: x\r\n\r\nbody\r\n", [box])
            raise AssertionError("the disabled account's mailbox accepted mail")
        except smtplib.SMTPRecipientsRefused as exc:
            assert 500 <= exc.recipients[box][0] < 600
        async with svc.client(other_key) as client:
            listing = await client.get("/api/messages", params={"email": other_box})
            assert len(listing.json()["messages"]) == 1
        # Enabled again, the mailbox receives again.
        async with svc.engine.begin() as conn:
            await accounts.set_user_disabled(conn, email, False)
        assert await svc.send(b"Subject: back\r\n\r\nbody\r\n", [box]) == {}
    finally:
        await svc.service.stop(grace=1)
