"""Reading live events in tests: a short mail to send, and the SSE stream as events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson

from tests.support.samples import text_mail


def mail(
    to: str, subject: str = "Your code", sender: str = "Shop <no-reply@shop.example>"
) -> bytes:
    return text_mail(to, subject, "Your code is 123456", sender=sender).as_bytes()


async def events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Each SSE event as {"id", "event", "data"}; comments as {"comment"}."""
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if current:
                yield current
            current = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            current[field] = orjson.loads(value) if field == "data" else value


async def next_event(stream: AsyncIterator[dict[str, Any]], within: float = 5.0) -> dict[str, Any]:
    """The next real event (comments skipped), or fail if none comes `within` seconds."""

    async def first() -> dict[str, Any]:
        async for item in stream:
            if "event" in item:
                return item
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(first(), within)


@asynccontextmanager
async def box_stream(
    client: httpx.AsyncClient, box: str, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.Response]:
    """`GET /api/events?email=box` held open: the response whose lines are the stream."""
    async with client.stream("GET", "/api/events", params={"email": box}, headers=headers) as r:
        yield r
