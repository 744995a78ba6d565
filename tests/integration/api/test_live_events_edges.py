"""Edges of the event streams: HEAD answers headers and ends; a worker that holds all the
streams it may refuses one more with a 503 envelope, at once, rather than hang."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support import Running, make_settings, start_service
from tests.support.events import events


async def _released(running: Running) -> bool:
    for _ in range(50):
        if running.service.api_context.streams.opened == 0:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_head_on_an_event_stream_answers_headers_and_ends(running: Running) -> None:
    email, key = await running.new_user()
    box = await running.new_mailbox(email)
    async with running.client(key) as client:
        answer = await asyncio.wait_for(client.head("/api/events", params={"email": box}), 5)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.content == b""
        missing = await asyncio.wait_for(
            client.head("/api/events", params={"email": "nobody@ephemail.test"}), 5
        )
        assert missing.status_code == 404
        # the same connection serves the next request: the HEAD really ended
        assert (await client.get("/api/domains")).status_code == 200
    assert await _released(running)  # the HEAD holds no stream open


async def test_a_full_worker_refuses_another_stream_with_503(tmp_path: Path) -> None:
    running = await start_service(make_settings(tmp_path, events_max_streams_total=1))
    try:
        one_email, one_key = await running.new_user()
        two_email, two_key = await running.new_user()
        one_box = await running.new_mailbox(one_email)
        two_box = await running.new_mailbox(two_email)
        async with running.client(one_key) as one, running.client(two_key) as two:
            async with one.stream("GET", "/api/events", params={"email": one_box}) as held:
                stream = events(held)  # kept: dropping it would close the response
                await asyncio.wait_for(anext(stream), 5)
                refused = await asyncio.wait_for(
                    two.get("/api/events", params={"email": two_box}), 5
                )
                assert refused.status_code == 503
                assert refused.json() == {
                    "status": False,
                    "message": "This server holds all the event streams it can; try again shortly.",
                }
                assert int(refused.headers["retry-after"]) >= 1
            assert await _released(running)
            async with two.stream("GET", "/api/events", params={"email": two_box}) as later:
                assert later.status_code == 200
    finally:
        await running.service.stop(grace=1)
