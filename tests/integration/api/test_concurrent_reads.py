"""Many readers of one new message at once: every answer says seen, one write marks it."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import event

from ephemail.store.ingest import WriterClosed
from tests.support import Running


async def burst(running: Running, path: str, key: str, count: int) -> list[tuple[int, bytes]]:
    """`count` GETs on connections opened beforehand, written all at once, so they truly overlap."""
    port = int(running.base_url.rsplit(":", 1)[1])
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    request = (
        f"GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    for _, writer in conns:
        writer.write(request)

    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[int, bytes]:
        raw = await reader.read()
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    return await asyncio.gather(*(answer(r, w) for r, w in conns))


async def one_unread(running: Running) -> tuple[str, str]:
    """A new user's key, and a mailbox of theirs holding one unread message."""
    email, key = await running.new_user()
    box = await running.new_mailbox(email)
    await running.send(b"Subject: new\r\n\r\nread me\r\n", [box])
    return key, box


async def test_simultaneous_first_reads_share_one_mark_seen_write(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, box = await one_unread(running)
    updates = 0  # seen writes, by the API's engine or sent to the commit process (SQLite)

    def count(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        nonlocal updates
        if statement.lstrip().upper().startswith("UPDATE MESSAGES"):
            updates += 1

    ctx = running.service.api_context
    through_writer = ctx.seen_writer
    if through_writer is not None:

        async def counted(message_ids: tuple[str, ...]) -> None:
            nonlocal updates
            updates += 1
            await through_writer(message_ids)

        monkeypatch.setattr(ctx, "seen_writer", counted)

    async with running.client(key) as client:
        listing = (await client.get("/api/messages", params={"email": box})).json()
        (summary,) = listing["messages"]
        assert summary["is_seen"] is False
        event.listen(running.engine.sync_engine, "before_cursor_execute", count)
        try:
            answers = await burst(running, f"/api/messages/{summary['id']}", key, 60)
        finally:
            event.remove(running.engine.sync_engine, "before_cursor_execute", count)
        assert {status for status, _ in answers} == {200}
        assert all(json.loads(body)["data"]["is_seen"] is True for _, body in answers)
        assert updates == 1, updates
        again = (await client.get("/api/messages", params={"email": box})).json()
        assert again["messages"][0]["is_seen"] is True


async def test_a_read_while_the_commit_process_is_out_of_reach_still_marks_seen(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping, or cut off from the commit process: the API writes the seen mark itself."""
    key, box = await one_unread(running)

    async def closed(_message_ids: tuple[str, ...]) -> None:
        raise WriterClosed("shutting down")

    monkeypatch.setattr(running.service.api_context, "seen_writer", closed)
    async with running.client(key) as client:
        (summary,) = (await client.get("/api/messages", params={"email": box})).json()["messages"]
        read = await client.get(f"/api/messages/{summary['id']}")
        assert read.status_code == 200 and read.json()["data"]["is_seen"] is True
        again = (await client.get("/api/messages", params={"email": box})).json()
        assert again["messages"][0]["is_seen"] is True
