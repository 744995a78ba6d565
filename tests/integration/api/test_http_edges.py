"""The HTTP server's own edges over raw sockets: bad requests, stalled reads, HEAD."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import Running, make_settings, serving, start_service

READ_TIMEOUT = 1.0


@pytest.fixture
async def quick(tmp_path: Path) -> AsyncIterator[Running]:
    """A service that gives a stalled request one second."""
    async with serving(make_settings(tmp_path, http_read_timeout=READ_TIMEOUT)) as svc:
        yield svc


def port_of(running: Running) -> int:
    return int(running.base_url.rsplit(":", 1)[1])


async def exchange(running: Running, raw: bytes, wait: float = 10.0) -> tuple[bytes, float]:
    """Send raw bytes, read until the server closes; (everything read, seconds taken)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(running))
    started = time.monotonic()
    try:
        writer.write(raw)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()
    return data, time.monotonic() - started


def parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def assert_envelope(data: bytes, status: int) -> dict[str, object]:
    code, headers, body = parse(data)
    assert code == status, data
    assert headers["content-type"] == "application/json", headers
    assert headers["connection"] == "close"
    payload: dict[str, object] = json.loads(body)
    assert payload["status"] is False and str(payload["message"]).endswith("."), payload
    assert set(payload) == {"status", "message"}
    return payload


@pytest.mark.parametrize(
    "raw",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",  # TLS to a plain port
        b"GARBAGE\r\n\r\n",
        b"GET /api/domains HTTP/9.9\r\n\r\n",
        b"GET /api/domains HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    ],
    ids=["tls", "garbage", "version", "header"],
)
async def test_an_unparsable_request_gets_the_json_envelope(running: Running, raw: bytes) -> None:
    data, _ = await exchange(running, raw)
    assert_envelope(data, 400)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /api/domains?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/domains HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n",
        b"GET /api/domains HTTP/1.1\r\n" + b"X-Many: c\r\n" * 10_000 + b"\r\n",
        # The second request of a connection is bounded too.
        b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"GET /api/domains HTTP/1.1\r\nX-Big: "
        + b"b" * 70_000
        + b"\r\n\r\n",
    ],
    ids=["long-query", "long-header", "many-headers", "second-request"],
)
async def test_an_oversized_head_is_refused_in_the_envelope(running: Running, raw: bytes) -> None:
    data, took = await exchange(running, raw)
    if raw.startswith(b"GET /api/openapi.json"):
        data = data[data.index(b"HTTP/1.1 431") :]
    assert_envelope(data, 431)
    assert took < 2.0, took


async def test_a_head_begun_after_another_request_is_bounded_across_chunks(
    running: Running,
) -> None:
    """The second head starts in the chunk that ended the first request and runs on."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(running))
    try:
        first = b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
        writer.write(first + b"GET /api/domains HTTP/1.1\r\nX-Big: " + b"b" * 40_000)
        await writer.drain()
        await asyncio.sleep(0.2)  # the server parses that chunk on its own
        writer.write(b"b" * 40_000 + b"\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert parse(data)[0] == 200  # the first request is answered
    assert_envelope(data[data.index(b"HTTP/1.1 431") :], 431)


async def test_a_head_under_the_bound_is_served(running: Running) -> None:
    raw = b"GET /api/openapi.json?q=" + b"a" * 30_000 + b" HTTP/1.1\r\nConnection: close\r\n\r\n"
    data, _ = await exchange(running, raw)
    assert parse(data)[0] == 200


async def test_a_body_shorter_than_its_length_is_answered_408(
    quick: Running, caplog: pytest.LogCaptureFixture
) -> None:
    raw = (
        b"POST /api/emails HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + quick.admin_key.encode()
        + b'\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user'
    )
    data, took = await exchange(quick, raw)
    assert_envelope(data, 408)
    assert took < READ_TIMEOUT + 3, took  # not held open
    assert "unhandled error" not in caplog.text  # a stalled client is not a server fault
    async with quick.client(quick.admin_key) as client:  # and nothing was made or counted
        listing = (await client.get("/api/domains")).headers["x-ratelimit-used"]
    assert listing == "1"
    async with quick.client(quick.admin_key) as client:  # requests in time are unaffected
        for _ in range(3):
            assert (await client.post("/api/emails", json={})).status_code == 200
            await asyncio.sleep(READ_TIMEOUT * 0.6)  # idle between requests on one connection


async def test_headers_that_never_end_are_answered_408(quick: Running) -> None:
    data, took = await exchange(quick, b"GET /api/domains HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
    assert_envelope(data, 408)
    assert took < READ_TIMEOUT + 3, took


async def test_a_trickle_of_header_bytes_does_not_hold_the_connection(quick: Running) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(quick))
    started = time.monotonic()
    try:
        writer.write(b"GET /api/domains HTTP/1.1\r\n")
        closed = asyncio.ensure_future(reader.read())
        while not closed.done() and time.monotonic() - started < READ_TIMEOUT + 5:
            writer.write(b"X-A: b\r\n")  # one header every 0.2 s, never the blank line
            await asyncio.sleep(0.2)
        assert closed.done(), "a slow sender held the connection"
        assert_envelope(closed.result(), 408)
    finally:
        writer.close()


async def test_a_silent_connection_is_closed(tmp_path: Path) -> None:
    from ephemail.api.protocol import IDLE_FACTOR

    read_timeout = 0.2
    svc = await start_service(make_settings(tmp_path, http_read_timeout=read_timeout))
    try:
        data, took = await exchange(svc, b"", wait=30)
    finally:
        await svc.service.stop(grace=1)
    assert data == b""
    assert read_timeout * IDLE_FACTOR - 0.5 < took < read_timeout * IDLE_FACTOR + 3, took


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response off a kept-alive connection: (status, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    code, headers, _ = parse(head)
    return code, await reader.readexactly(int(headers["content-length"]))


async def test_a_connection_idle_past_common_client_expiry_still_serves(running: Running) -> None:
    # httpx and several other clients keep an idle connection 5 s; a server that closed at the
    # same moment would reset a poll sent just then, and the client would see a failed request.
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(running))
    request = b"GET /api/domains HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    request += running.admin_key.encode() + b"\r\n\r\n"
    try:
        writer.write(request)
        assert (await read_response(reader))[0] == 200
        await asyncio.sleep(5.5)
        writer.write(request)
        assert (await read_response(reader))[0] == 200
    finally:
        writer.close()


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path, http_keepalive_timeout=1)) as svc:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(svc))
        try:
            writer.write(b"GET /api/domains HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await read_response(reader))[0] == 401
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 10) == b""
            assert 0.5 < time.monotonic() - started < 4
        finally:
            writer.close()


async def test_a_large_body_sent_with_its_headers_is_not_taken_for_a_large_head(
    running: Running,
) -> None:
    body = b'{"username": "bigbody"}' + b" " * 60_000
    raw = (
        b"POST /api/emails HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
        + running.admin_key.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    data, _ = await exchange(running, raw)
    code, _, payload = parse(data)
    assert code == 200, data
    assert json.loads(payload)["data"]["email"] == "bigbody@ephemail.test"


async def test_head_answers_like_get_without_a_body(running: Running) -> None:
    email = "admin@localhost.localdomain"
    box = await running.new_mailbox(email)
    await running.send(b"Subject: hi\r\n\r\nbody\r\n", [box])
    async with running.client(running.admin_key) as client:
        listing = await client.get("/api/messages", params={"email": box})
        message_id = listing.json()["messages"][0]["id"]
        for path in (
            "/api/domains",
            f"/api/messages?email={box}",  # the hot path
            f"/api/messages/{message_id}",  # the hot path
        ):
            get = await client.get(path)
            head = await client.head(path)
            assert (head.status_code, get.status_code) == (200, 200), path
            assert head.content == b""
            assert head.headers["content-type"] == get.headers["content-type"]
            assert head.headers["content-length"] == str(len(get.content))
            assert "x-ratelimit-limit" in head.headers
        assert (await client.head("/api/emails")).status_code == 405  # POST only: no GET
    async with running.client() as client:
        assert (await client.head("/api/docs")).status_code == 200
        assert (await client.head("/api/openapi.json")).status_code == 200
        assert (await client.head("/api/domains")).status_code == 401
