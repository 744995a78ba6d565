"""One real service per module, on its own thread, for the SDK, its CLI and its plugin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ephemail.client import Client
from tests.support.sdk import make_client
from tests.support.threaded import ServiceThread


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceThread]:
    with ServiceThread(tmp_path_factory.mktemp("served")) as server:
        yield server


@pytest.fixture
def api_key(served: ServiceThread) -> str:
    """A fresh user's key: each test counts its own quota."""
    return served.new_user()


@pytest.fixture
def address(served: ServiceThread, api_key: str) -> str:
    """A new mailbox of the `api_key` user."""
    with Client(served.base_url, api_key) as client:
        return client.create_mailbox().email


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which SDK client a test runs with: each test runs with both."""
    return str(request.param)


@pytest.fixture
def sdk(kind: str, served: ServiceThread, api_key: str) -> Iterator[Any]:
    """The `kind` client for the `api_key` user (the async one behind a blocking face)."""
    client = make_client(kind, served.base_url, api_key)
    try:
        yield client
    finally:
        client.close()
