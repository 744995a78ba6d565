"""The SDK's webhook methods against a real service: register (the secret comes back once),
list, send a test event that a real receiver gets signed with that secret, read the log,
delete; both clients. The service allows receivers on loopback, where the test's runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ephemail.client import NotFound, ValidationFailed
from ephemail.webhooks.signing import verify
from tests.support.receivers import Receiver
from tests.support.threaded import ServiceThread
from tests.support.webhooks import FAST


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceThread]:
    with ServiceThread(tmp_path_factory.mktemp("hooks"), **FAST) as server:
        yield server


@pytest.fixture
def receiver(served: ServiceThread) -> Iterator[Receiver]:
    """A receiver answering 204, on the service thread's loop."""
    started = served.call(Receiver().start())
    try:
        yield started
    finally:
        served.call(started.stop())


def _logged(sdk: Any, hook_id: int, within: float = 10.0) -> list[Any]:
    """The hook's log once it holds an attempt (written just after the attempt)."""
    deadline = time.monotonic() + within
    while not (found := sdk.webhook_deliveries(hook_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(found)


def test_create_list_test_and_delete_a_webhook(
    sdk: Any, served: ServiceThread, receiver: Receiver, address: str
) -> None:
    made = sdk.create_webhook(receiver.url, email=address, events=["message.received"])
    assert made.url == receiver.url and made.email == address
    assert made.events == ["message.received"] and made.secret.startswith("whsec_")
    account = sdk.create_webhook(receiver.url)
    assert account.email is None and len(account.events) == 6
    listed = sdk.webhooks()
    assert [h.id for h in listed] == [made.id, account.id]
    assert all(not hasattr(h, "secret") for h in listed)

    assert sdk.webhook_deliveries(made.id) == []
    sdk.test_webhook(made.id)
    (got,) = served.call(receiver.wait_for(1))
    assert got.event["type"] == "webhook.test" and got.event["data"]["webhook_id"] == made.id
    assert verify(made.secret, got.headers["ephemail-signature"], got.body, int(time.time()))
    (attempt,) = _logged(sdk, made.id)
    assert (attempt.event_type, attempt.status_code, attempt.error) == ("webhook.test", 204, None)
    assert attempt.attempt == 1 and attempt.next_retry_at is None and attempt.latency_ms >= 0

    sdk.delete_webhook(made.id)
    assert [h.id for h in sdk.webhooks()] == [account.id]
    for dead in (sdk.delete_webhook, sdk.test_webhook, sdk.webhook_deliveries):
        with pytest.raises(NotFound) as gone:
            dead(made.id)
        assert gone.value.message == "Webhook not found."
    sdk.delete_webhook(account.id)
    assert sdk.webhooks() == []


def test_a_bad_receiver_is_refused_with_the_reason(sdk: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        sdk.create_webhook("ftp://example.org/hook")
    assert refused.value.errors == {"url": ["only http and https URLs can receive webhooks"]}
    assert sdk.webhooks() == []
