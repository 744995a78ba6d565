"""Another account's custom domain answers exactly like a domain that is not served."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from ephemail.store.domains import add_domain
from ephemail.store.schema import mailboxes
from tests.support import Running
from tests.support.plans import put_plan

SECRET_DOMAIN = "owned-by-someone.example"
UNKNOWN_DOMAIN = "nobody-serves-this.example"


def answer(response: httpx.Response) -> tuple[int, Any]:
    """Status and body as the client sees them, the asked-for domain's name taken out."""
    text = response.text.replace(SECRET_DOMAIN, "<domain>").replace(UNKNOWN_DOMAIN, "<domain>")
    return response.status_code, orjson.loads(text)


@pytest.mark.parametrize("types", [("free", "premium", "custom"), ("free",)])
async def test_a_foreign_custom_domain_looks_unknown(
    running: Running, types: tuple[str, ...]
) -> None:
    owner, _ = await running.new_user()
    async with running.engine.begin() as conn:
        await add_domain(conn, SECRET_DOMAIN, type_="custom", owner_email=owner)
        await put_plan(conn, "probe", quota=10_000, lifetime=600, mailboxes=10, types=types)
    _, key = await running.new_user(plan="probe")
    async with running.client(key) as client:
        created = {
            d: answer(await client.post("/api/emails", json={"domain": d}))
            for d in (SECRET_DOMAIN, UNKNOWN_DOMAIN)
        }
        assert created[SECRET_DOMAIN] == created[UNKNOWN_DOMAIN]
        assert created[SECRET_DOMAIN][0] == 422
        by_query = {
            d: answer(await client.post("/api/emails", params={"domain": d, "username": "probe"}))
            for d in (SECRET_DOMAIN, UNKNOWN_DOMAIN)
        }
        assert by_query[SECRET_DOMAIN] == by_query[UNKNOWN_DOMAIN]
        box = (await client.post("/api/emails")).json()["data"]["email"]
        renamed = {
            d: answer(await client.post(f"/api/emails/{box}/probe/{d}"))
            for d in (SECRET_DOMAIN, UNKNOWN_DOMAIN)
        }
        assert renamed[SECRET_DOMAIN] == renamed[UNKNOWN_DOMAIN]
        assert renamed[SECRET_DOMAIN][0] == 422
        for kind in ("all", *types):
            listed = await client.get("/api/domains", params={"type": kind})
            assert SECRET_DOMAIN not in listed.text
        # The mailbox did not move, and no mailbox exists on the foreign domain.
        assert (await client.get("/api/messages", params={"email": box})).status_code == 200
    async with running.engine.connect() as conn:
        on_secret = select(func.count()).where(mailboxes.c.address.like(f"%@{SECRET_DOMAIN}"))
        assert (await conn.execute(on_secret)).scalar_one() == 0
