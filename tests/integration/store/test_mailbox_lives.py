"""One mailbox life, and nothing after it: ids, email tokens and mail in flight.

A mailbox life runs from a create (or a rename) to the next rename, a delete or expiry. Ids
are never handed out twice, an email token opens the one life it was issued for, and mail
accepted at RCPT is stored in that same life, still live and under the message cap, or
refused at DATA. Every test runs on SQLite and on PostgreSQL over real SMTP and HTTP.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from ephemail.core.time import now_epoch
from ephemail.store.schema import (
    api_keys,
    domains,
    mailboxes,
    messages,
    plans,
    users,
    webhook_deliveries,
    webhook_outbox,
    webhooks,
)
from ephemail.sweeper import sweep_once
from tests.support import Running, make_settings
from tests.support import serving as serving_settings

DOMAIN = "ephemail.test"


def mail(subject: str) -> bytes:
    return f"From: s@example.org\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()


@asynccontextmanager
async def serving(tmp_path: Path, database_url: str, **overrides: object) -> AsyncIterator[Running]:
    """A service on `database_url` whose default plan never gets in the way."""
    settings = make_settings(tmp_path, database_url=database_url, **overrides)
    async with serving_settings(settings) as svc:
        await svc.roomy_default_plan()
        yield svc


async def create(svc: Running, key: str, username: str) -> dict[str, Any]:
    async with svc.client(key) as client:
        answer = await client.post("/api/emails", json={"username": username, "domain": DOMAIN})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def token_listing(svc: Running, token: str) -> tuple[int, list[dict[str, Any]]]:
    async with svc.client() as anyone:
        answer = await anyone.get(f"/api/token/{token}/messages")
    return answer.status_code, answer.json().get("messages", [])


async def stored_messages(svc: Running) -> int:
    async with svc.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())


async def expire(svc: Running, address: str) -> None:
    async with svc.engine.begin() as conn:
        await conn.execute(
            update(mailboxes).where(mailboxes.c.address == address).values(expire_at=1)
        )


# --- ids ----------------------------------------------------------------------------------


async def test_no_id_is_handed_out_twice(tmp_path: Path, database_url: str) -> None:
    """Insert, delete, insert again on every table whose id leaves the process: the second
    row gets a new id (SQLite without AUTOINCREMENT gave the deleted one back)."""
    now = now_epoch()
    async with serving(tmp_path, database_url) as svc:
        rows: list[tuple[Any, Callable[[int], dict[str, Any]]]] = [
            (
                plans,
                lambda n: {
                    "name": f"p{n}",
                    "monthly_quota": 1,
                    "mailbox_lifetime": 60,
                    "max_mailboxes": 1,
                    "domain_types": "free",
                },
            ),
            (
                users,
                lambda n: {
                    "email": f"u{n}@example.org",
                    "plan_id": 1,
                    "timezone": "UTC",
                    "is_admin": False,
                    "disabled": False,
                    "created_at": now,
                },
            ),
            (
                api_keys,
                lambda n: {"user_id": 1, "key_hash": f"{n:064x}", "prefix": "p", "created_at": now},
            ),
            (domains, lambda n: {"name": f"d{n}.test", "type": "custom", "created_at": now}),
            (
                mailboxes,
                lambda n: {
                    "user_id": 1,
                    "domain_id": 1,
                    "address": f"b{n}@{DOMAIN}",
                    "created_at": now,
                    "expire_at": now + 60,
                    "message_count": 0,
                },
            ),
            (
                webhooks,
                lambda n: {
                    "user_id": 1,
                    "url": f"https://h{n}.example/",
                    "events": "message.received",
                    "secret": "s" * 64,
                    "created_at": now,
                },
            ),
        ]
        hook = select(func.max(webhooks.c.id)).scalar_subquery()  # the one left standing
        for delivery_table, extra in (
            (webhook_outbox, {"payload": "{}", "created_ms": 0, "next_attempt_ms": 0}),
            (webhook_deliveries, {"attempt": 1, "latency_ms": 0, "at_ms": 0}),
        ):
            rows.append(
                (
                    delivery_table,
                    lambda n, extra=extra: {
                        "webhook_id": hook,
                        "event_id": f"e{n}",
                        "event_type": "message.received",
                        **extra,
                    },
                )
            )
        for table, values in rows:
            async with svc.engine.begin() as conn:
                first = (
                    await conn.execute(insert(table).values(values(1)).returning(table.c.id))
                ).scalar_one()
                await conn.execute(delete(table).where(table.c.id == first))
            async with svc.engine.begin() as conn:
                second = (
                    await conn.execute(insert(table).values(values(2)).returning(table.c.id))
                ).scalar_one()
            assert second > first, table.name


# --- email tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["delete", "expiry then purge", "expiry then address reused"])
async def test_a_token_dies_with_its_mailbox_and_never_opens_the_next_one(
    tmp_path: Path, database_url: str, ending: str
) -> None:
    """Alice's mailbox ends; Bob takes the same address and receives mail there. Alice's old
    token must not open Bob's mailbox (it did: the new mailbox got the same id)."""
    async with serving(tmp_path, database_url) as svc:
        _, alice = await svc.new_user()
        _, bob = await svc.new_user()
        hers = await create(svc, alice, "reuse1")
        address = hers["email"]
        await svc.send(mail("for alice"), [address])
        assert (await token_listing(svc, hers["email_token"]))[0] == 200
        if ending == "delete":
            async with svc.client(alice) as client:
                assert (await client.delete(f"/api/emails/{address}")).status_code == 200
        else:
            await expire(svc, address)
            assert (await token_listing(svc, hers["email_token"]))[0] == 404
            if ending == "expiry then purge":
                assert await sweep_once(svc.engine, 100) == 1
            # Otherwise creating the address again removes the expired mailbox itself.
        his = await create(svc, bob, "reuse1")
        assert his["email"] == address and his["id"] != hers["id"]
        await svc.send(mail("for bob"), [address])

        status, _ = await token_listing(svc, hers["email_token"])
        assert status == 404
        status, listed = await token_listing(svc, his["email_token"])
        assert status == 200 and [m["subject"] for m in listed] == ["for bob"]
        async with svc.client() as anyone:
            base = f"/api/token/{hers['email_token']}/messages"
            assert (await anyone.get(f"{base}/{listed[0]['id']}")).status_code == 404


async def test_renaming_ends_a_token_and_renaming_back_does_not_revive_it(
    tmp_path: Path, database_url: str
) -> None:
    async with serving(tmp_path, database_url) as svc:
        _, alice = await svc.new_user()
        one = await create(svc, alice, "one")
        await svc.send(mail("first"), [one["email"]])
        async with svc.client(alice) as client:
            moved = await client.post(f"/api/emails/{one['email']}/two/{DOMAIN}")
            two = moved.json()["data"]
            assert (await token_listing(svc, one["email_token"]))[0] == 404
            assert (await token_listing(svc, two["email_token"]))[0] == 200
            back = (await client.post(f"/api/emails/{two['email']}/one/{DOMAIN}")).json()["data"]
        assert back["email"] == one["email"] and back["id"] == one["id"]
        assert (await token_listing(svc, one["email_token"]))[0] == 404
        assert (await token_listing(svc, two["email_token"]))[0] == 404
        status, listed = await token_listing(svc, back["email_token"])
        assert status == 200 and [m["subject"] for m in listed] == ["first"]


# --- mail in flight -----------------------------------------------------------------------


class Session:
    """One SMTP session driven step by step from the test (smtplib blocks: a thread)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.smtp: smtplib.SMTP | None = None

    async def open(self, *recipients: str) -> None:
        self.smtp = await asyncio.to_thread(smtplib.SMTP, "127.0.0.1", self.port, timeout=30)
        await asyncio.to_thread(self.smtp.ehlo)
        assert (await asyncio.to_thread(self.smtp.mail, "s@example.org"))[0] == 250
        for rcpt in recipients:
            assert (await asyncio.to_thread(self.smtp.rcpt, rcpt))[0] == 250

    async def data(self, raw: bytes) -> tuple[int, bytes]:
        assert self.smtp is not None
        return await asyncio.to_thread(self.smtp.data, raw)

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()


@pytest.mark.parametrize("meanwhile", ["deleted, address taken", "renamed", "expired"])
async def test_mail_accepted_at_rcpt_is_refused_when_that_mailbox_life_ended(
    tmp_path: Path, database_url: str, meanwhile: str
) -> None:
    """RCPT for Alice's mailbox; her mailbox ends before DATA (in the first case Bob takes
    the address, and used to get the same id and Alice's mail). DATA must not say 250 and
    nothing may be stored anywhere."""
    async with serving(tmp_path, database_url) as svc:
        _, alice = await svc.new_user()
        _, bob = await svc.new_user()
        hers = await create(svc, alice, "alicebox")
        session = Session(svc.smtp_port)
        try:
            await session.open(hers["email"])
            async with svc.client(alice) as client:
                if meanwhile == "deleted, address taken":
                    assert (await client.delete(f"/api/emails/{hers['email']}")).status_code == 200
                    his = await create(svc, bob, "alicebox")
                    assert his["id"] != hers["id"]
                elif meanwhile == "renamed":
                    moved = await client.post(f"/api/emails/{hers['email']}/moved/{DOMAIN}")
                    assert moved.status_code == 200
                else:
                    await expire(svc, hers["email"])
            code, reply = await session.data(mail("in flight"))
        finally:
            session.close()
        assert code == 550, reply
        assert await stored_messages(svc) == 0
        if meanwhile == "deleted, address taken":
            async with svc.client(bob) as client:
                listing = await client.get("/api/messages", params={"email": hers["email"]})
            assert listing.json()["messages"] == []


async def test_message_cap_holds_for_concurrent_sessions(tmp_path: Path, database_url: str) -> None:
    """Cap 2, six sessions past RCPT at once (each saw an empty mailbox): exactly two are
    stored, the others hear 452 (all six used to be stored)."""
    async with serving(tmp_path, database_url, mailbox_message_cap=2) as svc:
        _, key = await svc.new_user()
        box = await create(svc, key, "capped")
        sessions = [Session(svc.smtp_port) for _ in range(6)]
        try:
            await asyncio.gather(*(s.open(box["email"]) for s in sessions))
            answers = await asyncio.gather(*(s.data(mail(f"m{i}")) for i, s in enumerate(sessions)))
        finally:
            for s in sessions:
                s.close()
        codes = sorted(code for code, _ in answers)
        assert codes == [250, 250, 452, 452, 452, 452], answers
        assert all(b"4.2.2" in reply for code, reply in answers if code == 452)
        async with svc.client(key) as client:
            listing = await client.get("/api/messages", params={"email": box["email"]})
        assert len(listing.json()["messages"]) == 2
        async with svc.engine.connect() as conn:
            count = (
                await conn.execute(
                    select(mailboxes.c.message_count).where(mailboxes.c.id == box["id"])
                )
            ).scalar_one()
        assert count == 2


async def test_a_message_goes_to_the_recipients_with_room_and_says_250(
    tmp_path: Path, database_url: str
) -> None:
    """Two recipients past RCPT; one fills up before DATA. The other still gets the message
    (one reply per DATA: 250), and the full one does not go over its cap."""
    async with serving(tmp_path, database_url, mailbox_message_cap=2) as svc:
        _, key = await svc.new_user()
        full = await create(svc, key, "fills")
        roomy = await create(svc, key, "roomy")
        session = Session(svc.smtp_port)
        try:
            await session.open(full["email"], roomy["email"])
            await svc.send(mail("one"), [full["email"]])
            await svc.send(mail("two"), [full["email"]])
            code, reply = await session.data(mail("both"))
        finally:
            session.close()
        assert code == 250, reply
        async with svc.client(key) as client:
            subjects = {
                name: [
                    m["subject"]
                    for m in (
                        await client.get("/api/messages", params={"email": b["email"]})
                    ).json()["messages"]
                ]
                for name, b in (("full", full), ("roomy", roomy))
            }
        assert sorted(subjects["full"]) == ["one", "two"]
        assert subjects["roomy"] == ["both"]


# --- what outlives a message --------------------------------------------------------------


def mail_with_file(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "s@example.org"
    msg["Subject"] = subject
    msg.set_content("hello")
    msg.add_attachment(b"private", maintype="text", subtype="plain", filename="f.txt")
    return msg.as_bytes()


async def test_a_deleted_messages_id_file_url_and_cached_json_die_with_it(
    tmp_path: Path, database_url: str
) -> None:
    """Read (so the JSON is cached) by key and by token, then delete the message, then the
    mailbox: every URL that named them answers 404 and no listing shows them."""
    async with serving(tmp_path, database_url) as svc:
        _, key = await svc.new_user()
        box = await create(svc, key, "files")
        await svc.send(mail_with_file("goes"), [box["email"]])
        await svc.send(mail_with_file("stays"), [box["email"]])
        token_base = f"/api/token/{box['email_token']}/messages"
        async with svc.client(key) as owner, svc.client() as anyone:
            listed = (await owner.get("/api/messages", params={"email": box["email"]})).json()
            by_subject = {m["subject"]: m for m in listed["messages"]}
            urls: dict[str, list[str]] = {}
            for subject, message in by_subject.items():
                via_token = (await anyone.get(f"{token_base}/{message['id']}")).json()["data"]
                urls[subject] = [
                    f"/api/messages/{message['id']}",
                    message["attachments"][0]["url"],
                    f"{token_base}/{message['id']}",
                    via_token["attachments"][0]["url"],
                ]
                for url in urls[subject]:
                    assert (await (anyone if "/token/" in url else owner).get(url)).is_success

            gone = by_subject["goes"]["id"]
            assert (await owner.delete(f"/api/messages/{gone}")).status_code == 200
            for url in urls["goes"]:
                assert (await (anyone if "/token/" in url else owner).get(url)).status_code == 404
            again = (await owner.get("/api/messages", params={"email": box["email"]})).json()
            assert [m["subject"] for m in again["messages"]] == ["stays"]
            assert [m["subject"] for m in (await anyone.get(token_base)).json()["messages"]] == [
                "stays"
            ]

            assert (await owner.delete(f"/api/emails/{box['email']}")).status_code == 200
            for url in urls["stays"]:
                assert (await (anyone if "/token/" in url else owner).get(url)).status_code == 404
