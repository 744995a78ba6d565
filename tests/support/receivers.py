"""Webhook receivers the tests start: a tiny ASGI app under uvicorn on a free loopback port.

`Receiver(fail_first=n)` answers 500 to its first n requests, then 204; `hang=True` never
answers (until stopped). Every request it got is kept with its headers, body and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value


@dataclass
class Receiver:
    fail_first: int = 0
    hang: bool = False
    status: int = 204
    got: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    open: int = 0  # requests being answered now
    most_open: int = 0  # the most at once

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.got.append(Received(headers, body, time.time()))
        number = len(self.got)
        self.arrived.set()
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            if self.hang:  # until released, or until the sender gives up and closes
                await _first(receive(), self._release.wait())
        finally:
            self.open -= 1
        status = 500 if number <= self.fail_first else self.status
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def start(self) -> Receiver:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """At least `count` requests, or fail after `within` seconds."""
        deadline = time.monotonic() + within
        while len(self.got) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.got)} of {count} webhook requests came")
            await asyncio.sleep(0.02)
        return self.got


async def _first(*waits: Any) -> None:
    """Wait for the first of `waits` (after the body, `receive()` ends at a disconnect)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
