"""One real service per module, on its own thread, for the SDK, its CLI and its plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.threaded import ServiceThread


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceThread]:
    server = ServiceThread(tmp_path_factory.mktemp("served"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api_key(served: ServiceThread) -> str:
    """A fresh user's key: each test counts its own quota."""
    return served.new_user()
