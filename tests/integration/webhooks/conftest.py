"""A service whose webhooks may reach receivers on loopback, with short backoffs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import Running, start_service
from tests.support.receivers import Receiver
from tests.support.webhooks import hook_settings


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
