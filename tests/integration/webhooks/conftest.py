"""A service whose webhooks may reach receivers on loopback, with short backoffs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Running, make_settings, start_service
from tests.support.receivers import Receiver

FAST: dict[str, Any] = {
    "webhook_allow_private": True,  # the receivers run on 127.0.0.1
    "webhook_retry_base_seconds": 0.2,
    "webhook_retry_max_seconds": 0.5,
    "webhook_poll_seconds": 0.1,
    "webhook_connect_timeout": 1.0,
    "webhook_timeout": 1.0,
}


def hook_settings(tmp_path: Path, **overrides: Any) -> Any:
    return make_settings(tmp_path, **{**FAST, **overrides})


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[Running]:
    svc = await start_service(hook_settings(tmp_path))
    await svc.roomy_default_plan()
    try:
        yield svc
    finally:
        await svc.service.stop(grace=1)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    try:
        yield started
    finally:
        await started.stop()
