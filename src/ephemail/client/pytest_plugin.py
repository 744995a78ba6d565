"""pytest fixtures for tests that receive mail: `ephemail_client` and `ephemail_inbox`.

Loaded through the `pytest11` entry point wherever the SDK is installed. It defines
fixtures and two ini options and no hooks, so it does nothing in a run that does not ask
for its fixtures. Settings: `EPHEMAIL_BASE_URL` / `EPHEMAIL_API_KEY` in the environment,
else `ephemail_base_url` / `ephemail_api_key` in the pytest ini file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ephemail.client.core import API_KEY_ENV, BASE_URL_ENV
from ephemail.client.inbox import Inbox
from ephemail.client.sync import Client

BASE_URL_INI = "ephemail_base_url"
API_KEY_INI = "ephemail_api_key"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(BASE_URL_INI, f"ephemail service URL (or {BASE_URL_ENV})", default="")
    parser.addini(API_KEY_INI, f"ephemail API key (or {API_KEY_ENV})", default="")


def _setting(config: pytest.Config, env: str, ini: str) -> str | None:
    """The environment wins over the ini file, so CI can point a suite elsewhere."""
    value = os.environ.get(env) or config.getini(ini)
    return str(value) if value else None


@pytest.fixture(scope="session")
def ephemail_client(pytestconfig: pytest.Config) -> Iterator[Client]:
    """One SDK client for the session, closed at its end."""
    base_url = _setting(pytestconfig, BASE_URL_ENV, BASE_URL_INI)
    api_key = _setting(pytestconfig, API_KEY_ENV, API_KEY_INI)
    with Client(base_url, api_key) as client:
        yield client


@pytest.fixture
def ephemail_inbox(ephemail_client: Client) -> Iterator[Inbox]:
    """A fresh mailbox for this test, deleted with its mail after it."""
    inbox = Inbox(ephemail_client, ephemail_client.create_mailbox())
    try:
        yield inbox
    finally:
        inbox.delete()
