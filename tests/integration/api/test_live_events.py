"""Live events over real HTTP and real SMTP: wait-for-mail, and the event stream (SSE)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.support import Running, make_settings, start_service
from tests.support.events import box_stream, events, mail, next_event


async def user_box(running: Running) -> tuple[str, str]:
    """(api key, mailbox address) of a fresh user."""
    email, key = await running.new_user()
    return key, await running.new_mailbox(email)


async def used(client: httpx.AsyncClient) -> int:
    response = await client.get("/api/domains")
    return int(response.headers["X-RateLimit-Used"])


# --- wait ---------------------------------------------------------------------------------


async def test_wait_answers_when_mail_arrives_like_reading_it(running: Running) -> None:
    key, box = await user_box(running)
    async with running.client(key) as client:
        before = await used(client)
        waiting = asyncio.create_task(
            client.get("/api/messages/wait", params={"email": box, "timeout": 20})
        )
        await asyncio.sleep(0.3)
        assert not waiting.done()  # nothing there yet: it waits
        await running.send(mail(box), [box])
        response = await asyncio.wait_for(waiting, 5)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] is True and body["data"]["subject"] == "Your code"
        assert body["data"]["is_seen"] is True  # marked seen, like GET /api/messages/{id}
        again = await client.get(f"/api/messages/{body['data']['id']}")
        assert again.json() == body
        # the wait counted once, like any request (the domains and read calls once each)
        assert await used(client) == before + 1 + 1 + 1


async def test_wait_answers_at_once_for_mail_already_there_and_honours_since(
    running: Running,
) -> None:
    key, box = await user_box(running)
    await running.send(mail(box, "first"), [box])
    await running.send(mail(box, "second"), [box])
    async with running.client(key) as client:
        start = time.monotonic()
        first = await client.get("/api/messages/wait", params={"email": box, "timeout": 30})
        assert first.status_code == 200 and first.json()["data"]["subject"] == "first"
        assert time.monotonic() - start < 5  # not stuck waiting for new mail
        after = await client.get(
            "/api/messages/wait",
            params={"email": box, "timeout": 30, "since": first.json()["data"]["id"]},
        )
        assert after.json()["data"]["subject"] == "second"
        filtered = await client.get(
            "/api/messages/wait", params={"email": box, "timeout": 30, "subject": "SECOND"}
        )
        assert filtered.json()["data"]["subject"] == "second"
        waiting = asyncio.create_task(
            client.get(
                "/api/messages/wait",
                params={"email": box, "timeout": 20, "from": "bank.example"},
            )
        )
        await running.send(mail(box, "not this one"), [box])
        await running.send(mail(box, "statement", "Bank <news@bank.example>"), [box])
        response = await asyncio.wait_for(waiting, 5)
        assert response.json()["data"]["subject"] == "statement"


async def test_wait_times_out_with_408_and_validates_timeout(running: Running) -> None:
    key, box = await user_box(running)
    async with running.client(key) as client:
        late = await client.get("/api/messages/wait", params={"email": box, "timeout": 1})
        assert late.status_code == 408
        assert late.json()["status"] is False and late.json()["message"]
        for bad in ("0", "121", "abc", "1.5"):
            response = await client.get("/api/messages/wait", params={"email": box, "timeout": bad})
            assert response.status_code == 422, bad
            assert list(response.json()["errors"]) == ["timeout"]
        since = await client.get("/api/messages/wait", params={"email": box, "since": "x" * 46})
        assert since.status_code == 422 and list(since.json()["errors"]) == ["since"]


async def test_wait_and_events_on_a_foreign_or_missing_mailbox_are_404(running: Running) -> None:
    _, theirs = await user_box(running)
    key, _ = await user_box(running)
    async with running.client(key) as client:
        for email in (theirs, "nobody@ephemail.test"):
            wait = await client.get("/api/messages/wait", params={"email": email, "timeout": 1})
            assert wait.status_code == 404 and wait.json()["message"] == "Email not found."
            stream = await client.get("/api/events", params={"email": email})
            assert stream.status_code == 404 and stream.json()["message"] == "Email not found."
        dead = await client.get("/api/token/not-a-token/events")
        assert dead.status_code == 404


# --- the event stream ------------------------------------------------------------------------


async def test_stream_pushes_message_received_within_a_second_of_the_250(
    running: Running,
) -> None:
    key, box = await user_box(running)
    async with running.client(key) as client, box_stream(client, box) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        assert "comment" in await asyncio.wait_for(anext(stream), 5)  # the stream is open
        await running.send(mail(box), [box])
        acked = time.monotonic()
        event = await next_event(stream)
        assert time.monotonic() - acked < 1.0
        assert event["event"] == "message.received"
        assert event["id"].isdigit()
        data = event["data"]
        assert data["mailbox"] == box and data["subject"] == "Your code"
        assert data["from_email"] == "no-reply@shop.example" and len(data["id"]) == 46
        read = await client.get(f"/api/messages/{data['id']}")
        assert read.status_code == 200


async def test_stream_resumes_with_last_event_id(running: Running) -> None:
    key, box = await user_box(running)
    async with running.client(key) as client:
        async with box_stream(client, box) as response:
            stream = events(response)
            await running.send(mail(box, "one"), [box])
            seen = await next_event(stream)
        assert seen["data"]["subject"] == "one"
        await running.send(mail(box, "two"), [box])  # while disconnected
        await running.send(mail(box, "three"), [box])
        headers = {"Last-Event-ID": seen["id"]}
        async with box_stream(client, box, headers) as response:
            stream = events(response)
            missed = [await next_event(stream), await next_event(stream)]
            assert [e["data"]["subject"] for e in missed] == ["two", "three"]
            assert int(missed[0]["id"]) > int(seen["id"])
            await running.send(mail(box, "four"), [box])
            assert (await next_event(stream))["data"]["subject"] == "four"


async def test_stream_ends_with_a_last_event_when_the_mailbox_is_deleted(
    running: Running,
) -> None:
    key, box = await user_box(running)
    async with running.client(key) as client, box_stream(client, box) as response:
        stream = events(response)
        await asyncio.wait_for(anext(stream), 5)
        assert (await client.delete(f"/api/emails/{box}")).status_code == 200
        last = await next_event(stream)
        assert last["event"] == "mailbox.deleted" and last["data"]["mailbox"] == box
        assert "id" in last
        rest = [item async for item in stream]  # the server closes the stream
        assert not [item for item in rest if "event" in item]
    async with running.client(key) as client:
        again = await client.get("/api/events", params={"email": box})
        assert again.status_code == 404


async def test_stream_ends_when_the_mailbox_expires(running: Running) -> None:
    key, box = await user_box(running)
    from sqlalchemy import update

    from ephemail.store.schema import mailboxes

    async with running.engine.begin() as conn:
        await conn.execute(
            update(mailboxes)
            .where(mailboxes.c.address == box)
            .values(expire_at=int(time.time()) + 2)
        )
    async with running.client(key) as client, box_stream(client, box) as response:
        last = await next_event(events(response), within=10)
        assert last["event"] == "mailbox.expired"


async def test_token_stream_sees_mail_and_dies_with_its_mailbox(running: Running) -> None:
    key, _ = await user_box(running)
    async with running.client(key) as client:
        created = (await client.post("/api/emails")).json()["data"]
        box, token = created["email"], created["email_token"]
        async with client.stream("GET", f"/api/token/{token}/events") as response:
            assert response.status_code == 200
            stream = events(response)
            await running.send(mail(box), [box])
            assert (await next_event(stream))["event"] == "message.received"
            await client.delete(f"/api/emails/{box}")
            assert (await next_event(stream))["event"] == "mailbox.deleted"
        dead = await client.get(f"/api/token/{token}/events")
        assert dead.status_code == 404


async def test_heartbeats_and_a_limit_on_open_streams(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, events_heartbeat_seconds=0.2, events_max_streams=2)
    running = await start_service(settings)
    try:
        key, box = await user_box(running)
        async with running.client(key) as client:
            before = await used(client)
            async with (
                box_stream(client, box) as one,
                box_stream(client, box) as two,
            ):
                stream = events(one)
                comments = [await asyncio.wait_for(anext(stream), 2) for _ in range(3)]
                assert {"comment": "heartbeat"} in comments
                third = await client.get("/api/events", params={"email": box})
                assert third.status_code == 429
                assert "event streams" in third.json()["message"]
                assert two.status_code == 200
            # two streams counted one unit each, the refused one none, plus the used() call
            assert await used(client) == before + 2 + 1
            for _ in range(50):  # the server sees the close when it next writes
                fourth = await client.get("/api/events", params={"email": "x@ephemail.test"})
                assert fourth.status_code == 404
                if running.service.api_context.streams.open == {}:
                    break
                await asyncio.sleep(0.1)
            async with box_stream(client, box) as again:
                assert again.status_code == 200
    finally:
        await running.service.stop(grace=1)


async def test_openapi_documents_the_live_routes(running: Running) -> None:
    async with running.client() as client:
        paths = (await client.get("/api/openapi.json")).json()["paths"]
    wait = paths["/api/messages/wait"]["get"]
    assert {"200", "408", "422"} <= set(wait["responses"])
    assert "example" in wait["responses"]["200"]["content"]["application/json"]
    stream = paths["/api/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert "message.received" in stream["example"]
    assert "/api/token/{email_token}/events" in paths


async def test_stopping_the_service_ends_open_streams_at_once(tmp_path: Path) -> None:
    running = await start_service(make_settings(tmp_path))
    stopped = False
    try:
        key, box = await user_box(running)
        async with running.client(key) as client, box_stream(client, box) as response:
            stream = events(response)
            await asyncio.wait_for(anext(stream), 5)
            started = time.monotonic()
            stopping = asyncio.create_task(running.service.stop(grace=1))
            rest = await asyncio.wait_for(asyncio.shield(_drain(stream)), 5)
            assert rest == []  # the stream ended cleanly, nothing more after it
            await asyncio.wait_for(stopping, 5)
            stopped = True
            # uvicorn would otherwise wait 10 s for the stream before it gave up
            assert time.monotonic() - started < 5
    finally:
        if not stopped:
            await running.service.stop(grace=1)


async def _drain(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item async for item in stream if "event" in item]
