"""The hot path and the FastAPI routes answer the two busiest GETs byte for byte alike.

`api/hotpath.py` answers `GET /api/messages?email=` and `GET /api/messages/{id}` ahead of
FastAPI; the routes for the same GETs run only when it falls through, so nothing else would
notice them drifting apart. Each request here goes through the running service twice: once
as it stands, and once with the hot path taken out of the middleware chain (the quota
middleware handing straight to FastAPI), and the answers must match: status, body, headers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ephemail.api.hotpath import HotPathMiddleware
from ephemail.core.ids import MESSAGE_ID_LENGTH
from ephemail.store import messages
from ephemail.web.mount import SiteDispatch
from tests.support import Running

# Headers that differ between any two requests; the quota counters are compared apart.
PER_REQUEST = {b"date"}
COUNTERS = (b"x-ratelimit-used", b"x-ratelimit-remaining")

ATTACHED = (
    b"From: Ann <ann@example.org>\r\nSubject: files\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
    b"see attached\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    b'filename="r\xc3\xa9sum\xc3\xa9 1.pdf"\r\n\r\n%PDF\r\n--b\r\nContent-Type: text/csv\r\n'
    b'Content-Disposition: attachment; filename="t.csv"\r\n\r\na,b\r\n--b--\r\n'
)


def mail(subject: str, body: str, html: bool = False) -> bytes:
    kind = "text/html" if html else "text/plain"
    return (
        f"From: Bob <bob@example.org>\r\nSubject: {subject}\r\n"
        f"Content-Type: {kind}; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


ASGI = Callable[[Any, Any, Any], Awaitable[None]]


class HotPathSwitch:
    """Reaches into the running app's middleware chain: can take the hot path out, and counts
    the requests that reached FastAPI behind it."""

    def __init__(self, running: Running) -> None:
        parent: Any = None
        node: Any = running.service._http.config.loaded_app  # type: ignore[union-attr]
        while not isinstance(node, HotPathMiddleware):
            parent, node = node, node.api if isinstance(node, SiteDispatch) else node.app
        self.parent, self.hot = parent, node
        self.reached_fastapi = 0
        inner: ASGI = node.app

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.reached_fastapi += 1
            await inner(scope, receive, send)

        node.app = counting

    @contextlib.contextmanager
    def bypassed(self) -> Iterator[None]:
        self.parent.app = self.hot.app
        try:
            yield
        finally:
            self.parent.app = self.hot


@dataclass
class Answer:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]
    by_fastapi: bool


def ratelimit(answer: Answer) -> tuple[int, int]:
    values = dict(answer.headers)
    return int(values[COUNTERS[0]]), int(values[COUNTERS[1]])


async def ask(client: httpx.AsyncClient, switch: HotPathSwitch, method: str, url: str) -> Answer:
    before = switch.reached_fastapi
    response = await client.request(method, url)
    return Answer(
        response.status_code,
        response.content,
        [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in PER_REQUEST],
        switch.reached_fastapi > before,
    )


async def both_ways(
    client: httpx.AsyncClient, switch: HotPathSwitch, url: str, *, routes_first: bool = False
) -> tuple[Answer, Answer]:
    """(the normal answer, the routes' answer) to the same request, one after the other."""
    if routes_first:
        with switch.bypassed():
            routes = await ask(client, switch, "GET", url)
        normal = await ask(client, switch, "GET", url)
    else:
        normal = await ask(client, switch, "GET", url)
        with switch.bypassed():
            routes = await ask(client, switch, "GET", url)
    assert routes.by_fastapi
    return normal, routes


def assert_same(normal: Answer, routes: Answer, url: str, *, routes_first: bool) -> None:
    assert (normal.status, normal.body) == (routes.status, routes.body), url
    strip = [(k, v) for k, v in normal.headers if k not in COUNTERS]
    assert strip == [(k, v) for k, v in routes.headers if k not in COUNTERS], url
    # A 2xx counts one unit, so the second of the two answers shows one more used.
    counted = 1 if 200 <= normal.status < 300 else 0
    first, second = (routes, normal) if routes_first else (normal, routes)
    used, remaining = ratelimit(first)
    assert ratelimit(second) == (used + counted, remaining - counted), url


async def test_the_hot_path_answers_exactly_as_the_routes_do(running: Running) -> None:
    email, key = await running.new_user()
    box = await running.new_mailbox(email, "parity")
    other_email, other_key = await running.new_user()
    foreign_box = await running.new_mailbox(other_email, "foreign")
    await running.send(mail("foreign", "not yours"), [foreign_box])
    await running.send(ATTACHED, [box])
    await running.send(mail("html", "<p>hi <b>there</b></p>", html=True), [box])
    for i in range(4):
        await running.send(mail(f"plain {i}", f"body {i} " + "é" * i), [box])

    async with running.client(key) as client:
        listed = (await client.get("/api/messages", params={"email": box})).json()["messages"]
        ids = [m["id"] for m in listed]  # newest first
        assert len(ids) == 6 and listed[-1]["attachments"]
        async with running.engine.begin() as conn:
            await messages.mark_seen(conn, ids[2])
        switch = HotPathSwitch(running)
        async with running.client(other_key) as theirs:
            foreign = await theirs.get("/api/messages", params={"email": foreign_box})
            foreign_id = foreign.json()["messages"][0]["id"]

        local, _, domain = box.partition("@")
        hot_path = [
            f"/api/messages?email={box}",
            f"/api/messages?email={box.upper()}",
            f"/api/messages?email={local}%40{domain}",
            f"/api/messages?email={box}&limit=2",
            f"/api/messages?email={box}&limit=0002&before={ids[1]}",
            f"/api/messages?email={box}&limit=2&before={ids[-1]}",
            f"/api/messages?email={box}&limit=1000",
            f"/api/messages?email={box}&limit=0",
            f"/api/messages?email={box}&limit=1001",
            f"/api/messages?email={box}&before=not-an-id",
            f"/api/messages?email={box}&before={foreign_id}",
            f"/api/messages?email={box}&before={'0' * MESSAGE_ID_LENGTH}",
            f"/api/messages?email={foreign_box}",
            f"/api/messages?email=nobody@{domain}",
            "/api/messages?email=not-an-address",
            "/api/messages?email=",
            f"/api/messages?email={foreign_box}&email={box}",
            f"/api/messages?email={box}&limit=9&limit=1",
            f"/api/messages?email={box}&other=1",
            f"/api/messages/{ids[2]}",  # seen before either path read it
            f"/api/messages/{ids[-1]}",  # with attachments, unseen: read twice below
            f"/api/messages/{foreign_id}",
            f"/api/messages/{'!' * MESSAGE_ID_LENGTH}",
            f"/api/messages/{'0' * MESSAGE_ID_LENGTH}",
        ]
        falls_through = [
            "/api/messages",
            f"/api/messages?mail={box}",
            f"/api/messages?email={box}&limit=two",
            f"/api/messages?email={box}&limit=-1",
            f"/api/messages?email={box}&limit=1234567890",
            f"/api/messages/{ids[0][:-1]}",
            f"/api/messages/{ids[0]}/",
        ]
        for url in hot_path + falls_through:
            normal, routes = await both_ways(client, switch, url)
            assert normal.by_fastapi == (url in falls_through), url
            assert_same(normal, routes, url, routes_first=False)
        # Reading an unseen message marks it seen: each path gets to be the first reader once,
        # and the listing after each read must agree too.
        for mid, routes_first in ((ids[0], False), (ids[1], True), (ids[0], True)):
            for url in (f"/api/messages/{mid}", f"/api/messages?email={box}"):
                normal, routes = await both_ways(client, switch, url, routes_first=routes_first)
                assert not normal.by_fastapi and normal.status == 200, url
                assert_same(normal, routes, url, routes_first=routes_first)
                assert b'"is_seen":true' in normal.body
        head = await ask(client, switch, "HEAD", f"/api/messages?email={box}")
        assert not head.by_fastapi  # HEAD runs as a GET, hot path included
        with switch.bypassed():
            head_routes = await ask(client, switch, "HEAD", f"/api/messages?email={box}")
        assert_same(head, head_routes, "HEAD", routes_first=False)
