"""Search within a mailbox and longer mailbox lives, over real HTTP and real SMTP, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from ephemail.store.schema import mailboxes
from ephemail.sweeper import sweep_once
from tests.support import Running, make_settings, serving
from tests.support.databases import temporary_pg_database
from tests.support.plans import put_plan


@pytest.fixture(params=["sqlite", "postgresql"])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    """The whole service on either backend."""
    if request.param == "sqlite":
        async with serving(make_settings(tmp_path)) as svc:
            yield svc
        return
    async with (
        temporary_pg_database() as url,
        serving(make_settings(tmp_path, database_url=url)) as svc,
    ):
        yield svc


def letter(to: str, subject: str, body: str, sender: str, *, html: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body, subtype="html" if html else "plain")
    return msg.as_bytes()


async def _listed(client: httpx.AsyncClient, box: str, **params: str) -> list[str]:
    response = await client.get("/api/messages", params={"email": box, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) <= {"status", "mailbox", "messages", "next_before"}
    assert body["status"] is True and body["mailbox"] == box
    return [m["subject"] for m in body["messages"]]


# --- search -------------------------------------------------------------------------------


async def test_search_filters_by_text_sender_subject_since_and_unread(served: Running) -> None:
    email, key = await served.new_user()
    box = await served.new_mailbox(email)
    await served.send(
        letter(box, "Welcome aboard", "Thanks for joining.", "Acme <hi@acme.example>"), [box]
    )
    await served.send(
        letter(
            box,
            "Confirm your email",
            "Your verification code is 482913.",
            "Shop <no-reply@shop.example>",
        ),
        [box],
    )
    await served.send(
        letter(
            box,
            "Newsletter",
            "<p>Código de <b>verificación</b> inside HTML</p>",
            "Boletín <news@boletin.example>",
            html=True,
        ),
        [box],
    )
    async with served.client(key) as client:
        everything = await _listed(client, box)
        assert everything == ["Newsletter", "Confirm your email", "Welcome aboard"]
        assert await _listed(client, box, q="verif") == ["Newsletter", "Confirm your email"]
        assert await _listed(client, box, q="482913") == ["Confirm your email"]
        assert await _listed(client, box, q="VERIFICATION code") == ["Confirm your email"]
        assert await _listed(client, box, q="acme") == ["Welcome aboard"]  # sender address
        assert await _listed(client, box, q="shop") == ["Confirm your email"]  # sender name
        assert await _listed(client, box, q="joining") == ["Welcome aboard"]  # body
        assert await _listed(client, box, q="boletín") == ["Newsletter"]
        assert await _listed(client, box, q="nothing-like-this") == []
        assert await _listed(client, box, **{"from": "SHOP.example"}) == ["Confirm your email"]
        assert await _listed(client, box, subject="letter") == ["Newsletter"]
        listing = (await client.get("/api/messages", params={"email": box})).json()
        oldest = listing["messages"][-1]["id"]
        assert await _listed(client, box, since=oldest) == ["Newsletter", "Confirm your email"]
        await client.get(f"/api/messages/{listing['messages'][0]['id']}")  # read the newest
        assert await _listed(client, box, unread="true") == ["Confirm your email", "Welcome aboard"]
        assert await _listed(client, box, unread="true", q="verif") == ["Confirm your email"]
        page = (
            await client.get("/api/messages", params={"email": box, "q": "verif", "limit": "1"})
        ).json()
        assert [m["subject"] for m in page["messages"]] == ["Newsletter"]
        rest = await _listed(client, box, q="verif", limit="1", before=page["next_before"])
        assert rest == ["Confirm your email"]


async def test_a_deleted_message_leaves_the_search(served: Running) -> None:
    email, key = await served.new_user()
    box = await served.new_mailbox(email)
    await served.send(letter(box, "Reset", "Reset your password now", "a@b.example"), [box])
    async with served.client(key) as client:
        (message,) = (await client.get("/api/messages", params={"email": box})).json()["messages"]
        assert await _listed(client, box, q="password") == ["Reset"]
        assert (await client.delete(f"/api/messages/{message['id']}")).status_code == 200
        assert await _listed(client, box, q="password") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "!!! ???"}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"from": "y" * 201}, "from"),
        ({"unread": "maybe"}, "unread"),
        ({"since": "not-a-message"}, "since"),
        ({"q": "code", "limit": "0"}, "limit"),
    ],
)
async def test_bad_filter_values_are_422_naming_the_field(
    running: Running, params: dict[str, str], field: str
) -> None:
    email, key = await running.new_user()
    box = await running.new_mailbox(email)
    async with running.client(key) as client:
        response = await client.get("/api/messages", params={"email": box, **params})
        assert response.status_code == 422
        body = response.json()
        assert body["status"] is False and list(body["errors"]) == [field]
        other = await client.get("/api/messages", params={"email": f"x-{box}", "q": "a"})
        assert other.status_code == 404  # someone else's or no mailbox: as the plain list


# --- extend -------------------------------------------------------------------------------


async def _plan(running: Running, lifetime: int, maximum: int) -> None:
    async with running.engine.begin() as conn:
        await put_plan(
            conn, "default", quota=100_000, lifetime=lifetime, mailboxes=100, max_lifetime=maximum
        )
    running.service_auth().clear()


async def test_extend_adds_a_lifetime_up_to_the_plan_maximum(served: Running) -> None:
    await _plan(served, 600, 1500)
    _, key = await served.new_user()
    async with served.client(key) as client:
        created = (await client.post("/api/emails")).json()["data"]
        box = created["email"]
        used = int((await client.get("/api/domains")).headers["X-RateLimit-Used"])
        first = await client.post(f"/api/emails/{box}/extend")
        assert first.status_code == 200
        assert int(first.headers["X-RateLimit-Used"]) == used + 1
        data = first.json()["data"]
        assert set(data) == set(created)
        assert (data["id"], data["email"], data["created_at"]) == (
            created["id"],
            created["email"],
            created["created_at"],
        )
        assert _seconds(data["expire_at"]) - _seconds(created["expire_at"]) == 600
        assert 1100 < data["expires_in_seconds"] <= 1200
        second = (await client.post(f"/api/emails/{box}/extend")).json()["data"]
        assert _seconds(second["expire_at"]) == _seconds(created["created_at"]) + 1500  # capped
        third = await client.post(f"/api/emails/{box}/extend")
        assert third.status_code == 403
        assert third.json() == {
            "status": False,
            "message": "This mailbox already lives as long as your plan allows.",
        }
        async with served.client() as anonymous:  # every token of this life still opens it
            for token in (created["email_token"], second["email_token"]):
                listed = await anonymous.get(f"/api/token/{token}/messages")
                assert listed.status_code == 200
        gone = await client.post(f"/api/emails/nobody-{box}/extend")
        assert gone.status_code == 404
        bad = await client.post("/api/emails/not-an-address/extend")
        assert bad.status_code == 422 and list(bad.json()["errors"]) == ["email"]


async def test_a_plan_without_a_maximum_refuses_to_extend(running: Running) -> None:
    _, key = await running.new_user()
    async with running.client(key) as client:
        box = (await client.post("/api/emails")).json()["data"]["email"]
        refused = await client.post(f"/api/emails/{box}/extend")
        assert refused.status_code == 403
        assert "X-RateLimit-Used" in refused.headers
        assert int(refused.headers["X-RateLimit-Used"]) == 1  # only the creation counted


async def test_an_extended_mailbox_receives_and_survives_the_sweeper_past_its_first_expiry(
    served: Running,
) -> None:
    await _plan(served, 600, 3600)
    _, key = await served.new_user()
    async with served.client(key) as client:
        created = (await client.post("/api/emails")).json()["data"]
        box = created["email"]
        # make its life nearly over, then extend: it now ends 600 s after that
        async with served.engine.begin() as conn:
            await conn.execute(
                update(mailboxes)
                .where(mailboxes.c.address == box)
                .values(expire_at=_seconds(created["created_at"]) + 2)
            )
        extended = (await client.post(f"/api/emails/{box}/extend")).json()["data"]
        assert _seconds(extended["expire_at"]) == _seconds(created["created_at"]) + 602
        await asyncio.sleep(max(0.0, _seconds(created["created_at"]) + 3 - _now()))
        await sweep_once(served.engine, 100)
        refused = await served.send(letter(box, "Later", "still here", "a@b.example"), [box])
        assert refused == {}
        assert await _listed(client, box) == ["Later"]
        # an unextended twin of it does expire and stops receiving
        other = (await client.post("/api/emails")).json()["data"]["email"]
        async with served.engine.begin() as conn:
            await conn.execute(
                update(mailboxes).where(mailboxes.c.address == other).values(expire_at=1)
            )
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await served.send(letter(other, "x", "y", "a@b.example"), [other])


def _seconds(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp())


def _now() -> float:
    import time

    return time.time()
