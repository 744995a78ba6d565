"""What the webhook tests share: settings for receivers on loopback with short backoffs,
registering a hook or reading its log over the API, and the `hooked` service and
`receiver` fixtures (imported by the conftest or test module that uses them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ephemail.config import Settings
from tests.support.receivers import Receiver
from tests.support.service import Running, make_settings, start_service

FAST: dict[str, Any] = {
    "webhook_allow_private": True,  # the receivers run on 127.0.0.1
    "webhook_retry_base_seconds": 0.2,
    "webhook_retry_max_seconds": 0.5,
    "webhook_poll_seconds": 0.1,
    "webhook_connect_timeout": 1.0,
    "webhook_timeout": 1.0,
}


def hook_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(tmp_path, **{**FAST, **overrides})


async def register(running: Running, key: str, url: str, **fields: Any) -> dict[str, Any]:
    """POST /api/webhooks; the created hook's data (with its secret)."""
    async with running.client(key) as client:
        response = await client.post("/api/webhooks", json={"url": url, **fields})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def deliveries(
    client: httpx.AsyncClient, hook_id: int, count: int, within: float = 10.0
) -> list[dict[str, Any]]:
    """The hook's log once it holds `count` attempts (written just after each attempt)."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"/api/webhooks/{hook_id}/deliveries")
        assert response.status_code == 200
        data: list[dict[str, Any]] = response.json()["data"]
        if len(data) >= count or time.monotonic() > deadline:
            return data
        await asyncio.sleep(0.05)


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[Running]:
    """A service whose webhooks may reach receivers on loopback, with short backoffs."""
    svc = await start_service(hook_settings(tmp_path))
    await svc.roomy_default_plan()
    try:
        yield svc
    finally:
        await svc.service.stop(grace=1)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A receiver that answers 204 to everything, on a free loopback port."""
    started = await Receiver().start()
    try:
        yield started
    finally:
        await started.stop()
