"""The SDK against a real service over real HTTP, with mail sent by real SMTP.

Each test runs with the blocking `Client` and with `AsyncClient` (through
tests/support/sdk.py), so both clients are shown to work end to end.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from ephemail.client import (
    Client,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    QuotaExceeded,
    Unauthenticated,
    ValidationFailed,
    WaitTimedOut,
)
from tests.support.events import mail
from tests.support.ports import free_port
from tests.support.samples import GREEK_NAME, rich_message
from tests.support.sdk import make_client
from tests.support.threaded import ServiceThread, unique_plan


def later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_mailboxes_are_created_renamed_and_deleted(sdk: Any) -> None:
    listing = sdk.domains()
    assert listing.requested_type == "all" and listing.domains[0].domain == "ephemail.test"
    assert sdk.domains("free").domains[0].type == "Free"
    box = sdk.create_mailbox()
    assert box.domain == "ephemail.test" and box.expires_in_seconds > 0 and box.email_token
    named = sdk.create_mailbox(domain="ephemail.test", username=f"named-{box.id}")
    assert named.email == f"named-{box.id}@ephemail.test"
    moved = sdk.rename_mailbox(named.email, f"moved-{box.id}", "ephemail.test")
    assert moved.email == f"moved-{box.id}@ephemail.test" and moved.expire_at == named.expire_at
    assert moved.email_token != named.email_token
    sdk.delete_mailbox(moved.email)
    with pytest.raises(NotFound):
        sdk.messages(moved.email)
    with pytest.raises(NotFound):  # the old address died with the rename
        sdk.messages(named.email)


def test_messages_are_read_downloaded_and_deleted(sdk: Any, served: ServiceThread) -> None:
    box = sdk.create_mailbox()
    served.send(rich_message(box.email, "Welcome aboard"), box.email)
    msg = sdk.wait_for_message(box.email, timeout=10)
    assert msg.subject == "Welcome aboard" and msg.to == box.email and msg.is_seen
    (listed,) = sdk.messages(box.email)
    assert listed.id == msg.id and listed.attachments == msg.attachments
    read = sdk.message(msg.id)
    assert read.is_seen and read.content == msg.content
    names = {a.name: a.size for a in read.attachments}
    assert names == {"file.txt": 91, GREEK_NAME: len(b"%PDF-1.4 fake")}
    assert sdk.download_attachment(msg.id, "file.txt") == b"x" * 91
    assert sdk.download_attachment(msg.id, GREEK_NAME) == b"%PDF-1.4 fake"
    with pytest.raises(NotFound):
        sdk.download_attachment(msg.id, "nothing.txt")
    sdk.delete_message(msg.id)
    with pytest.raises(NotFound):
        sdk.message(msg.id)
    assert sdk.messages(box.email) == []


def test_token_routes_read_without_a_key_and_die_with_the_mailbox(
    kind: str, sdk: Any, served: ServiceThread
) -> None:
    box = sdk.create_mailbox()
    served.send(rich_message(box.email), box.email)
    msg = sdk.wait_for_message(box.email, timeout=10)
    keyless = make_client(kind, served.base_url, api_key=None)
    try:
        assert [m.id for m in keyless.token_messages(box.email_token)] == [msg.id]
        assert keyless.token_message(box.email_token, msg.id).subject == msg.subject
        assert keyless.token_attachment(box.email_token, msg.id, "file.txt") == b"x" * 91
        with pytest.raises(Unauthenticated):  # the key routes still want a key
            keyless.messages(box.email)
        sdk.delete_mailbox(box.email)
        with pytest.raises(NotFound):
            keyless.token_messages(box.email_token)
    finally:
        keyless.close()


def test_wait_returns_a_message_sent_while_waiting_and_honours_filters(
    sdk: Any, served: ServiceThread
) -> None:
    box = sdk.create_mailbox()
    later(0.5, lambda: served.send(mail(box.email, "first"), box.email))
    first = sdk.wait_for_message(box.email, timeout=20)
    assert first.subject == "first"
    later(0.3, lambda: served.send(mail(box.email, "not this"), box.email))
    later(
        0.6, lambda: served.send(mail(box.email, "statement", "Bank <n@bank.example>"), box.email)
    )
    wanted = sdk.wait_for_message(box.email, timeout=20, since=first.id, sender="BANK.example")
    assert wanted.subject == "statement"
    by_subject = sdk.wait_for_message(box.email, timeout=5, subject="NOT THIS")
    assert by_subject.subject == "not this"
    with pytest.raises(WaitTimedOut) as late:
        sdk.wait_for_message(box.email, timeout=1, since=wanted.id)
    assert late.value.status == 408


def test_errors_are_mapped_to_their_exceptions(sdk: Any, kind: str, served: ServiceThread) -> None:
    box = sdk.create_mailbox()
    with pytest.raises(Conflict):
        sdk.create_mailbox(username=box.email.split("@")[0])
    with pytest.raises(ValidationFailed) as invalid:
        sdk.domains("bogus")
    assert "type" in invalid.value.errors
    with pytest.raises(ValidationFailed) as bad_name:
        sdk.rename_mailbox(box.email, "..bad", "ephemail.test")
    assert bad_name.value.errors
    with pytest.raises(NotFound) as missing:
        sdk.message("x" * 46)
    assert missing.value.message
    plan = unique_plan()
    served.new_plan(plan, types=("free",))
    limited = make_client(kind, served.base_url, served.new_user(plan=plan))
    wrong = make_client(kind, served.base_url, "eph_" + "0" * 40)
    try:
        with pytest.raises(Forbidden):
            limited.domains("premium")
        with pytest.raises(Unauthenticated) as unknown:
            wrong.domains()
        assert unknown.value.message == "Unauthenticated."
    finally:
        limited.close()
        wrong.close()
    nowhere = make_client(kind, f"http://127.0.0.1:{free_port()}", "eph_x")
    try:
        with pytest.raises(ConnectionFailed):
            nowhere.domains()
    finally:
        nowhere.close()


def test_quota_exceeded_carries_retry_after_and_the_reset(kind: str, served: ServiceThread) -> None:
    plan = unique_plan()
    served.new_plan(plan, quota=2)
    client = make_client(kind, served.base_url, served.new_user(plan=plan))
    try:
        client.domains()
        client.domains()
        assert client.rate_limit.remaining == 0
        with pytest.raises(QuotaExceeded) as caught:
            client.domains()
        assert caught.value.retry_after is not None and caught.value.retry_after > 0
        assert caught.value.reset == client.rate_limit.reset
    finally:
        client.close()


def test_rate_limit_matches_the_headers(sdk: Any, served: ServiceThread, api_key: str) -> None:
    sdk.domains()
    before = sdk.rate_limit
    raw = httpx.get(
        f"{served.base_url}/api/domains", headers={"Authorization": f"Bearer {api_key}"}
    )
    assert int(raw.headers["X-RateLimit-Limit"]) == before.limit
    assert int(raw.headers["X-RateLimit-Used"]) == before.used + 1
    assert int(raw.headers["X-RateLimit-Remaining"]) == before.remaining - 1
    assert raw.headers["X-RateLimit-Reset"] == before.reset.isoformat()
    sdk.create_mailbox()
    after = sdk.rate_limit
    assert after.used == before.used + 2 and after.used + after.remaining == after.limit
    with pytest.raises(NotFound):  # a 4xx does not count, and the headers say so
        sdk.message("x" * 46)
    assert sdk.rate_limit.used == after.used


def test_events_tell_mail_as_it_arrives_and_end_with_the_mailbox(
    kind: str, sdk: Any, served: ServiceThread, api_key: str
) -> None:
    box = sdk.create_mailbox()
    later(0.5, lambda: served.send(mail(box.email, "live"), box.email))
    stream = iter(sdk.events(box.email))
    received = next(stream)
    assert received.type == "message.received" and received.data["subject"] == "live"
    keyless = make_client(kind, served.base_url, api_key=None)
    try:  # an email token opens the stream without a key; Last-Event-ID 0 replays it all
        replay = next(iter(keyless.token_events(box.email_token, last_event_id="0")))
        assert (replay.type, replay.id) == ("message.received", received.id)
    finally:
        keyless.close()

    def delete() -> None:
        with Client(served.base_url, api_key) as other:
            other.delete_mailbox(box.email)

    later(0.3, delete)
    assert next(stream).type == "mailbox.deleted"
    assert list(stream) == []  # the stream ends with its mailbox
    with pytest.raises(NotFound):
        next(iter(sdk.events(box.email)))
