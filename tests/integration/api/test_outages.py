"""PostgreSQL or Redis goes away and comes back, with no restart of the service.

While a store is away: SMTP never answers 250 for mail it could not store (451 instead),
the API answers 503 in the contract's envelope, open event streams end cleanly. Once it is
back, the same running service answers again, and a stream resumed with Last-Event-ID
gets what it missed. PostgreSQL is taken away through a proxy the test cuts (the machine's
server is shared); Redis is a server of the test's own, stopped and started.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support import Running, make_settings, start_service
from tests.support.events import events, mail
from tests.support.redis_server import own_redis
from tests.support.tcp_proxy import TcpProxy

UNAVAILABLE = {
    "status": False,
    "message": "The service is temporarily unavailable; try again shortly.",
}


def _smtp_code(port: int, box: str, subject: str) -> int:
    """The code the server finally gave this mail: 250, or the refusal's code."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("a@example.org", [box], mail(box, subject))
        return 250
    except smtplib.SMTPRecipientsRefused as exc:
        return int(next(iter(exc.recipients.values()))[0])
    except smtplib.SMTPResponseException as exc:
        return int(exc.smtp_code)


async def _drain(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item async for item in stream if "event" in item]


async def _until_ok(client: httpx.AsyncClient, path: str, params: dict[str, str]) -> httpx.Response:
    for _ in range(100):
        answer = await client.get(path, params=params)
        if answer.status_code == 200:
            return answer
        assert answer.status_code == 503, answer.text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} did not come back")


async def _resumed_until(
    client: httpx.AsyncClient, box: str, last_id: str, subject: str
) -> list[str]:
    """Resume like an EventSource does (again on every end) until `subject` arrives."""
    seen: list[str] = []
    for _ in range(20):
        headers = {"Last-Event-ID": last_id}
        async with client.stream(
            "GET", "/api/events", params={"email": box}, headers=headers
        ) as response:
            if response.status_code != 200:
                await asyncio.sleep(0.2)
                continue
            async for item in events(response):
                if item.get("event") == "message.received":
                    seen.append(item["data"]["subject"])
                    last_id = item["id"]
                    if item["data"]["subject"] == subject:
                        return seen
    raise AssertionError(f"{subject!r} never came; saw {seen}")


async def _away_and_back(
    running: Running, take_away: Any, bring_back: Any, *, smtp_while_away: int
) -> None:
    email, key = await running.new_user()
    box = await running.new_mailbox(email)
    async with running.client(key) as client:
        async with client.stream("GET", "/api/events", params={"email": box}) as response:
            stream = events(response)
            assert "comment" in await asyncio.wait_for(anext(stream), 5)
            assert await asyncio.to_thread(_smtp_code, running.smtp_port, box, "before") == 250
            first = await asyncio.wait_for(anext(_only_events(stream)), 5)
            assert first["data"]["subject"] == "before"
            await take_away()
            # the stream ends cleanly (or, if it lives on, it is resumed below all the same)
            rest = await asyncio.wait_for(_drain(stream), 10)
            assert all(item["event"] != "message.received" for item in rest)
        code = await asyncio.to_thread(_smtp_code, running.smtp_port, box, "while away")
        assert code == smtp_while_away
        answer = await client.get("/api/messages", params={"email": box})
        assert answer.status_code == 503 and answer.json() == UNAVAILABLE
        assert int(answer.headers["retry-after"]) >= 1
        await bring_back()
        listed = await _until_ok(client, "/api/messages", {"email": box})
        assert await asyncio.to_thread(_smtp_code, running.smtp_port, box, "after") == 250
        subjects = await _resumed_until(client, box, first["id"], "after")
        stored = [m["subject"] for m in listed.json()["messages"]]
        expected = ["while away", "after"] if smtp_while_away == 250 else ["after"]
        assert subjects == expected  # what it missed, once each, and nothing it had seen
        assert ("while away" in stored) == (smtp_while_away == 250)


async def _only_events(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    async for item in stream:
        if "event" in item:
            yield item


async def test_postgresql_away_and_back(tmp_path: Path, pg_url: str) -> None:
    proxy = TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432)
    await proxy.start()
    proxied = urlsplit(pg_url)._replace(netloc=f"postgres@127.0.0.1:{proxy.port}").geturl()
    running = await start_service(make_settings(tmp_path, database_url=proxied))
    try:
        assert running.service.bus.name == "postgresql"
        await _away_and_back(running, proxy.cut, proxy.restore, smtp_while_away=451)
    finally:
        await running.service.stop(grace=1)
        await proxy.cut()


async def test_redis_away_and_back(tmp_path: Path) -> None:
    with own_redis(tmp_path) as redis:
        settings = make_settings(tmp_path, redis_url=redis.url, quota_flush_seconds=0.2)
        running = await start_service(settings)

        async def stop() -> None:
            await asyncio.sleep(0.5)  # a write-back of the counts so far
            redis.stop()

        async def start() -> None:
            redis.start()

        try:
            assert running.service.bus.name == "redis"
            # Mail is stored in the database whatever Redis does: 250 is the truth then.
            await _away_and_back(running, stop, start, smtp_while_away=250)
        finally:
            await running.service.stop(grace=1)
