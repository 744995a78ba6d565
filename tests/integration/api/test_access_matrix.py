"""Who may reach what: every endpoint × every way of naming an object → one exact status.

The matrix below is the contract's access rules in one table. A row is an endpoint, a
column a situation: the reader's own object, another user's, one that does not exist, one
in an expired, deleted or renamed mailbox, and the credentials: a revoked key, no key, a
garbage key or email_token, and a valid one with one character changed. Keyed routes answer
401 (without rate headers) for every key problem and 404 for every object they must not
show; the email_token routes ignore API keys entirely, answer 404 for any token that does
not name a live mailbox, and count a live token's requests against its owner's quota. A
foreign object answers byte for byte like a missing one, and (test at the bottom) in about
the same time.

Every cell builds its own objects, so a DELETE in one cell cannot change another's answer.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select, update

from ephemail.core.ids import BASE62, MESSAGE_ID_LENGTH
from ephemail.store import accounts
from ephemail.store.schema import mailboxes
from tests.support import Running, make_settings, start_service
from tests.support.contract import RATE_HEADERS, rate
from tests.support.samples import text_mail

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOMAIN = "ephemail.test"
COLUMNS = (
    "own",
    "foreign",
    "missing",
    "expired",
    "revoked_key",
    "no_key",
    "garbage",
    "tampered",
    "deleted",
    "renamed",
)
# None: the situation does not apply to the endpoint (it names no object, or a token is
# the whole name). For keyed routes `garbage`/`tampered` are the API key; for token routes
# they are the email_token. A renamed mailbox's messages moved with it, so routes that name
# only a message id still find them; its old address and old token are gone.
# fmt: off
MATRIX: dict[str, tuple[int | None, ...]] = {
    #                                    own  forgn miss  exp   revk  nokey garb  tamp  del   ren
    "GET /api/domains":                 (200, None, None, None, 401,  401,  401,  401,  None, None),
    "POST /api/emails":                 (200, None, None, None, 401,  401,  401,  401,  None, None),
    "POST /api/emails/{email}/{user}/{domain}":
                                        (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
    "DELETE /api/emails/{email}":       (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
    "POST /api/emails/{email}/extend":  (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
    "GET /api/messages?email=":         (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
    "GET /api/messages/wait?email=":    (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
    # A stream that opens stays open, so its 200 cells are tested in test_live_events.py.
    "GET /api/events?email=":           (None, 404, 404,  404,  401,  401,  401,  401,  404,  404),
    "GET /api/messages/{id}":           (200, 404,  404,  404,  401,  401,  401,  401,  404,  200),
    "DELETE /api/messages/{id}":        (200, 404,  404,  404,  401,  401,  401,  401,  404,  200),
    "GET /api/messages/{id}/attachments/{name}":
                                        (200, 404,  404,  404,  401,  401,  401,  401,  404,  200),
    "GET /api/messages/{id}/extract":   (200, 404,  404,  404,  401,  401,  401,  401,  404,  200),
    "GET /api/messages/{id}/raw":       (200, 404,  404,  404,  401,  401,  401,  401,  404,  200),
    "GET /api/token/{token}/messages":  (200, None, None, 404,  200,  200,  404,  404,  404,  404),
    "GET /api/token/{token}/events":    (None, None, None, 404, None, None, 404,  404,  404,  404),
    "GET /api/token/{token}/messages/{id}":
                                        (200, 404,  404,  404,  200,  200,  404,  404,  404,  404),
    "GET /api/token/{token}/messages/{id}/attachments/{name}":
                                        (200, 404,  404,  404,  200,  200,  404,  404,  404,  404),
    "GET /api/token/{token}/messages/{id}/extract":
                                        (200, 404,  404,  404,  200,  200,  404,  404,  404,  404),
    "GET /api/token/{token}/messages/{id}/raw":
                                        (200, 404,  404,  404,  200,  200,  404,  404,  404,  404),
    # Webhooks (extension): each box has a webhook of its own, which dies with the box.
    "POST /api/webhooks":               (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
    "GET /api/webhooks":                (200, None, None, None, 401,  401,  401,  401,  None, None),
    "DELETE /api/webhooks/{id}":        (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
    "POST /api/webhooks/{id}/test":     (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
    "GET /api/webhooks/{id}/deliveries":
                                        (200, 404,  404,  404,  401,  401,  401,  401,  404,  404),
}
# fmt: on
HOOK_URL = "http://127.0.0.1:9/hook"  # allowed in this world; never called (see `box`)
CELLS = [
    pytest.param(endpoint, column, code, id=f"{endpoint} | {column}")
    for endpoint, codes in MATRIX.items()
    for column, code in zip(COLUMNS, codes, strict=True)
    if code is not None
]
UNAUTHENTICATED = {"status": False, "message": "Unauthenticated."}


def one_char_changed(value: str) -> str:
    """The same string with its middle character replaced by another of the same alphabet."""
    middle = len(value) // 2
    original = value[middle]
    replacement = "A" if original != "A" else "B"
    return value[:middle] + replacement + value[middle + 1 :]


def missing_message_id() -> str:
    return "".join(secrets.choice(BASE62) for _ in range(MESSAGE_ID_LENGTH))


def mail_with_attachment(to: str) -> bytes:
    sender, attachment = "Matrix <matrix@example.org>", ("file.txt", b"secret bytes")
    return text_mail(to, "access matrix", "Hello.", sender=sender, attachment=attachment).as_bytes()


@dataclass
class Box:
    """A mailbox with one message that has one attachment: everything a route can name."""

    address: str
    token: str
    message_id: str
    name: str
    webhook_id: int = 10**9  # none such, unless the box registered one


@dataclass
class World:
    running: Running
    http: httpx.AsyncClient  # one connection pool for every request; headers per request
    owner_key: str
    other_key: str
    revoked_key: str = ""
    revoked_owner_box: Box | None = None

    async def send(
        self, authorization: str | None, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        return await self.http.request(method, path, headers=headers, json=body)

    async def call(self, key: str, method: str, path: str) -> httpx.Response:
        response = await self.send(f"Bearer {key}", method, path)
        assert response.status_code == 200, (method, path, response.text)
        return response

    async def box(self, key: str) -> Box:
        data = (await self.call(key, "POST", "/api/emails")).json()["data"]
        await self.running.send(mail_with_attachment(data["email"]), [data["email"]])
        listing = await self.call(key, "GET", f"/api/messages?email={quote(data['email'])}")
        (message,) = listing.json()["messages"]
        # A webhook of the box's own, for an event it never hears (it dies with the box).
        hook = {"url": HOOK_URL, "email": data["email"], "events": ["mailbox.expired"]}
        response = await self.send(f"Bearer {key}", "POST", "/api/webhooks", hook)
        assert response.status_code == 200, response.text
        return Box(
            data["email"],
            data["email_token"],
            message["id"],
            message["attachments"][0]["name"],
            response.json()["data"]["id"],
        )

    async def expire(self, box: Box) -> None:
        async with self.running.engine.begin() as conn:
            await conn.execute(
                update(mailboxes).where(mailboxes.c.address == box.address).values(expire_at=1)
            )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp_path: Path = tmp_path_factory.mktemp("access-matrix")
    settings = make_settings(
        tmp_path, webhook_allow_private=True, webhook_max_per_account=1_000_000
    )
    running = await start_service(settings)
    http = httpx.AsyncClient(base_url=running.base_url, timeout=30)
    try:
        await running.roomy_default_plan()  # room for a fresh mailbox per cell
        _, owner_key = await running.new_user()
        _, other_key = await running.new_user()
        world = World(running, http, owner_key, other_key)
        # A user whose only key is revoked after it made a mailbox with a message.
        revoked_email, world.revoked_key = await running.new_user()
        world.revoked_owner_box = await world.box(world.revoked_key)
        async with running.engine.begin() as conn:
            (info,) = await accounts.list_keys(conn, revoked_email)
            await accounts.revoke_key(conn, info.id)
        running.service_auth().clear()  # the revocation takes effect now, not after the TTL
        yield world
    finally:
        await http.aclose()
        await running.service.stop(grace=1)


# --- requests -----------------------------------------------------------------------------


def request_for(endpoint: str, box: Box) -> tuple[str, str]:
    """(method, path) of `endpoint` naming the objects of `box`."""
    name = quote(box.name, safe="")
    paths = {
        "GET /api/domains": "/api/domains",
        "POST /api/emails": "/api/emails",
        "POST /api/emails/{email}/{user}/{domain}": (
            f"/api/emails/{box.address}/moved-{secrets.token_hex(4)}/{DOMAIN}"
        ),
        "DELETE /api/emails/{email}": f"/api/emails/{box.address}",
        "POST /api/emails/{email}/extend": f"/api/emails/{box.address}/extend",
        "GET /api/messages/{id}/extract": f"/api/messages/{box.message_id}/extract",
        "GET /api/messages/{id}/raw": f"/api/messages/{box.message_id}/raw",
        "GET /api/token/{token}/messages/{id}/extract": (
            f"/api/token/{box.token}/messages/{box.message_id}/extract"
        ),
        "GET /api/token/{token}/messages/{id}/raw": (
            f"/api/token/{box.token}/messages/{box.message_id}/raw"
        ),
        "GET /api/messages?email=": f"/api/messages?email={quote(box.address)}",
        "GET /api/messages/wait?email=": f"/api/messages/wait?email={quote(box.address)}&timeout=1",
        "GET /api/events?email=": f"/api/events?email={quote(box.address)}",
        "GET /api/messages/{id}": f"/api/messages/{box.message_id}",
        "DELETE /api/messages/{id}": f"/api/messages/{box.message_id}",
        "GET /api/messages/{id}/attachments/{name}": (
            f"/api/messages/{box.message_id}/attachments/{name}"
        ),
        "GET /api/token/{token}/messages": f"/api/token/{box.token}/messages",
        "GET /api/token/{token}/events": f"/api/token/{box.token}/events",
        "GET /api/token/{token}/messages/{id}": (
            f"/api/token/{box.token}/messages/{box.message_id}"
        ),
        "GET /api/token/{token}/messages/{id}/attachments/{name}": (
            f"/api/token/{box.token}/messages/{box.message_id}/attachments/{name}"
        ),
    }
    hook = f"/api/webhooks/{box.webhook_id}"
    paths.update(
        {
            "POST /api/webhooks": "/api/webhooks",
            "GET /api/webhooks": "/api/webhooks",
            "DELETE /api/webhooks/{id}": hook,
            "POST /api/webhooks/{id}/test": f"{hook}/test",
            "GET /api/webhooks/{id}/deliveries": f"{hook}/deliveries",
        }
    )
    return endpoint.split(" ", 1)[0], paths[endpoint]


def body_for(endpoint: str, box: Box) -> dict[str, Any] | None:
    """The JSON body of `endpoint` naming `box`, for the routes that take one."""
    if endpoint == "POST /api/webhooks":
        return {"url": HOOK_URL, "email": box.address, "events": ["mailbox.expired"]}
    return None


async def situation(world: World, endpoint: str, column: str) -> tuple[str | None, Box]:
    """The Authorization header and the objects a cell's request names."""
    token_route = "/api/token/" in endpoint
    key = f"Bearer {world.owner_key}"
    if column == "own":
        return key, await world.box(world.owner_key)
    if column == "foreign":
        theirs = await world.box(world.other_key)
        if token_route:  # the reader's own valid token, someone else's message
            mine = await world.box(world.owner_key)
            return None, Box(mine.address, mine.token, theirs.message_id, theirs.name)
        return key, theirs
    if column == "missing":
        mine = await world.box(world.owner_key)
        ghost = f"ghost-{secrets.token_hex(6)}@{DOMAIN}"
        missing = Box(ghost, mine.token, missing_message_id(), "x")
        return (None if token_route else key), missing
    if column == "expired":
        box = await world.box(world.owner_key)
        await world.expire(box)
        return (None if token_route else key), box
    if column == "revoked_key":
        assert world.revoked_owner_box is not None
        return f"Bearer {world.revoked_key}", world.revoked_owner_box
    if column == "no_key":
        return None, await world.box(world.owner_key)
    if column == "garbage":
        box = await world.box(world.owner_key)
        if token_route:
            return None, Box(box.address, "not-a-token", box.message_id, box.name)
        return "Bearer eph_not-a-real-key", box
    if column == "tampered":
        box = await world.box(world.owner_key)
        if token_route:
            return None, Box(box.address, one_char_changed(box.token), box.message_id, box.name)
        return f"Bearer {one_char_changed(world.owner_key)}", box
    if column == "deleted":
        box = await world.box(world.owner_key)
        await world.call(world.owner_key, "DELETE", f"/api/emails/{box.address}")
        return (None if token_route else key), box
    if column == "renamed":
        box = await world.box(world.owner_key)
        renamed = f"/api/emails/{box.address}/renamed-{secrets.token_hex(4)}/{DOMAIN}"
        await world.call(world.owner_key, "POST", renamed)
        return (None if token_route else key), box
    raise AssertionError(column)


# --- the matrix ---------------------------------------------------------------------------

# Situations whose email_token names no live mailbox, so no account to count against.
DEAD_TOKENS = ("expired", "garbage", "tampered", "deleted", "renamed")


@pytest.mark.parametrize(("endpoint", "column", "expected"), CELLS)
async def test_access(world: World, endpoint: str, column: str, expected: int) -> None:
    authorization, box = await situation(world, endpoint, column)
    method, path = request_for(endpoint, box)
    response = await world.send(authorization, method, path, body_for(endpoint, box))
    assert response.status_code == expected, (method, path, response.text)
    binary = {"/attachments/": "text/plain", "/raw": "message/rfc822"}
    media = next((m for part, m in binary.items() if part in path), "application/json")
    assert response.headers["content-type"].startswith(
        media if expected == 200 else "application/json"
    )
    keyed = "/api/token/" not in path
    valid_key = keyed and expected != 401
    live_token = not keyed and column not in DEAD_TOKENS
    if expected == 401:
        assert response.json() == UNAUTHENTICATED
    if valid_key or live_token:
        rate(response.headers)  # every answer to a valid key or live token carries the quota
    else:
        assert not any(h in response.headers for h in RATE_HEADERS), response.headers
    if expected == 404:
        body: dict[str, Any] = response.json()
        assert set(body) == {"status", "message"} and body["status"] is False, body
    if expected == 200 and "/attachments/" in path:
        assert response.content == b"secret bytes"
    if column == "foreign":
        # The same request naming nothing at all must look exactly the same.
        _, ghost = await situation(world, endpoint, "missing")
        missing = await world.send(
            authorization, *request_for(endpoint, ghost), body_for(endpoint, ghost)
        )
        assert missing.status_code == 404
        assert response.content == missing.content
        assert response.headers["content-type"] == missing.headers["content-type"]


async def test_an_altered_token_string_never_opens_the_mailbox(world: World) -> None:
    box = await world.box(world.owner_key)
    middle = len(box.token) // 2
    altered = [
        box.token[:middle] + "." + box.token[middle:],
        box.token[:middle] + "~" + box.token[middle:],
        box.token + "=",
        box.token + "==",
    ]
    answers = {
        token: (await world.send(None, "GET", f"/api/token/{token}/messages")).status_code
        for token in altered
    }
    assert set(answers.values()) == {404}, answers


async def test_concurrent_deletes_of_one_message_succeed_once(world: World) -> None:
    """Twenty DELETEs of the same message at once: one 200, nineteen 404, and the
    mailbox's message count (which enforces the per-mailbox cap) stays exact."""
    box = await world.box(world.owner_key)
    await world.running.send(mail_with_attachment(box.address), [box.address])
    key = f"Bearer {world.owner_key}"
    answers = await asyncio.gather(
        *(world.send(key, "DELETE", f"/api/messages/{box.message_id}") for _ in range(20))
    )
    codes = sorted(response.status_code for response in answers)
    async with world.running.engine.connect() as conn:
        count = (
            await conn.execute(
                select(mailboxes.c.message_count).where(mailboxes.c.address == box.address)
            )
        ).scalar_one()
    assert (codes, count) == ([200] + [404] * 19, 1), (codes, count)


async def test_the_matrix_covers_every_documented_route(world: World) -> None:
    def shape(label: str) -> str:  # "GET /api/messages/{id}" and "…/{message_id}" alike
        return re.sub(r"\{[^}]*\}", "{}", label.split("?", 1)[0])

    spec = (await world.send(None, "GET", "/api/openapi.json")).json()
    documented = {f"{m.upper()} {p}" for p, methods in spec["paths"].items() for m in methods}
    assert {shape(e) for e in MATRIX} == {shape(d) for d in documented}
    assert all(len(codes) == len(COLUMNS) for codes in MATRIX.values())


# --- timing -------------------------------------------------------------------------------


TIMED_ROUTES = {
    "message": lambda box: f"/api/messages/{box.message_id}",
    "attachment": lambda box: f"/api/messages/{box.message_id}/attachments/{box.name}",
    "listing": lambda box: f"/api/messages?email={quote(box.address)}",
}


@pytest.mark.parametrize("route", list(TIMED_ROUTES))
async def test_a_foreign_404_takes_as_long_as_a_missing_one(world: World, route: str) -> None:
    """Latency must not tell "someone else's" from "does not exist".

    Interleaved requests on one connection, medians of 50 each, a loose bound: the two may
    differ by less than 5 ms or by less than a factor of two. A lookup that revealed
    existence (loading the row, then checking the owner) would typically be far apart.
    """
    path = TIMED_ROUTES[route]
    theirs = await world.box(world.other_key)

    def ghost() -> Box:
        address = f"ghost-{secrets.token_hex(6)}@{DOMAIN}"
        return Box(address, "", missing_message_id(), theirs.name)

    key = f"Bearer {world.owner_key}"
    foreign: list[float] = []
    missing: list[float] = []
    for _ in range(5):  # warm up the connection and the caches
        await world.send(key, "GET", path(theirs))
        await world.send(key, "GET", path(ghost()))
    for i in range(100):
        target, into = (theirs, foreign) if i % 2 == 0 else (ghost(), missing)
        started = time.perf_counter()
        response = await world.send(key, "GET", path(target))
        into.append(time.perf_counter() - started)
        assert response.status_code == 404, response.text
    a, b = statistics.median(foreign), statistics.median(missing)
    assert abs(a - b) < 0.005 or max(a, b) / min(a, b) < 2, (a, b)
