"""The SDK's requests and parsing, against `httpx.MockTransport` answering the API's shapes.

The extension endpoints (extract, raw, search filters, extend) are checked here against
their fixed shapes; the integration tests run everything against a real service. Every
test runs the blocking and the asyncio client alike (see `sdk`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ephemail.client import AsyncClient, Client, Mailbox, Message, errors
from ephemail.client.core import resolve_base_url

MESSAGE_ID = "ap94AWDg123ELQz07vrVB9dLXlbqZM5NGwYxOJKko8n6m1"
MESSAGE = {
    "is_seen": False,
    "subject": "Welcome",
    "from": "Example Sender",
    "from_email": "hello@example.org",
    "to": "box@example.com",
    "receivedAt": "2026-06-28 10:56:52",
    "id": MESSAGE_ID,
    "html": True,
    "content": "<p>Hello</p>",
    "attachments": [
        {
            "name": "file.txt",
            "extension": "txt",
            "size": 91,
            "url": f"https://api.example.com/api/messages/{MESSAGE_ID}/attachments/file.txt",
        }
    ],
}
MAILBOX = {
    "id": 2301,
    "email": "box@example.com",
    "domain": "example.com",
    "expire_at": "2026-06-28T11:06:52+00:00",
    "expires_in_seconds": 600,
    "created_at": "2026-06-28T10:56:52+00:00",
    "email_token": "tok",
}
EXTRACTION = {
    "id": MESSAGE_ID,
    "codes": [
        {"code": "482913", "context": "Your code is 482913"},
        {"code": "1234", "context": ""},
    ],
    "links": [
        {"url": "https://shop.example/verify?t=1", "text": "Verify", "kind": "verify"},
        {"url": "https://shop.example/unsub", "text": "Unsubscribe", "kind": "unsubscribe"},
    ],
}
RATE = {
    "X-RateLimit-Limit": "50000",
    "X-RateLimit-Used": "124",
    "X-RateLimit-Remaining": "49876",
    "X-RateLimit-Reset": "2026-05-01T00:00:00+05:00",
}

Handler = Callable[[httpx.Request], httpx.Response]


def ok(body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers={**RATE, **headers})


def failed(status: int, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"status": False, "message": message, **extra})


class Sdk:
    """The blocking or the asyncio client behind one blocking face, for one test body."""

    def __init__(self, kind: str, handler: Handler, **options: Any) -> None:
        self.kind = kind
        self.requests: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        transport = httpx.MockTransport(record)
        args = {"base_url": "http://svc.test", "api_key": "eph_k", **options}
        self.client: Client | AsyncClient = (
            Client(**args, transport=transport)
            if kind == "sync"
            else AsyncClient(**args, transport=transport)
        )

    def sent(self) -> list[tuple[str, str]]:
        """(method, path and query as sent) of every request so far."""
        return [(r.method, r.url.raw_path.decode()) for r in self.requests]

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if self.kind == "sync" or not callable(method):
            return method
        return lambda *a, **k: self._settle(method(*a, **k))

    @staticmethod
    def _settle(result: Any) -> Any:
        if not hasattr(result, "__anext__"):
            return asyncio.run(result)

        async def drain() -> list[Any]:
            return [item async for item in result]

        return asyncio.run(drain())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(kind: str, handler: Handler, **options: Any) -> Sdk:
    return Sdk(kind, handler, **options)


def routes(request: httpx.Request) -> httpx.Response:
    """A service answering each endpoint with the contract's example shape."""
    path, method = request.url.path, request.method
    if path == "/api/domains":
        domains = [{"domain": "example.com", "type": "Free", "custom": False}]
        return ok(
            {
                "status": True,
                "data": {"requested_type": "free", "allowed_types": ["free"], "domains": domains},
            }
        )
    if path.startswith("/api/emails") and method == "POST":
        return ok({"status": True, "data": MAILBOX})
    if method == "DELETE":
        return ok({"status": True, "message": "Deleted."})
    if path in ("/api/messages", "/api/token/tok/messages"):
        return ok({"status": True, "mailbox": "box@example.com", "messages": [MESSAGE]})
    if path.endswith("/extract"):
        return ok({"status": True, "data": EXTRACTION})
    if path.endswith("/raw"):
        return httpx.Response(
            200, content=b"Subject: x\r\n\r\nbody\r\n", headers={"content-type": "message/rfc822"}
        )
    if "/attachments/" in path:
        return httpx.Response(200, content=b"\x00bytes")
    return ok({"status": True, "data": MESSAGE})


def test_every_endpoint_sends_its_request_and_parses_its_answer(kind: str) -> None:
    sdk = make(kind, routes)
    domains = sdk.domains("free")
    assert domains.domains[0].domain == "example.com" and domains.allowed_types == ["free"]
    box = sdk.create_mailbox(domain="example.com", username="me")
    assert box.email == "box@example.com" and box.expire_at == datetime(
        2026, 6, 28, 11, 6, 52, tzinfo=UTC
    )
    assert sdk.rename_mailbox("box@example.com", "new", "example.com").id == 2301
    assert sdk.extend_mailbox("box@example.com").expires_in_seconds == 600
    assert sdk.delete_mailbox("box@example.com") is None
    (msg,) = sdk.messages("box@example.com")
    assert msg.sender == "Example Sender" and msg.received_at == datetime(
        2026, 6, 28, 10, 56, 52, tzinfo=UTC
    )
    assert msg.attachments[0].size == 91
    assert sdk.message(MESSAGE_ID).id == MESSAGE_ID
    assert sdk.delete_message(MESSAGE_ID) is None
    assert sdk.download_attachment(MESSAGE_ID, "a b/ü.txt") == b"\x00bytes"
    assert sdk.raw(MESSAGE_ID) == b"Subject: x\r\n\r\nbody\r\n"
    found = sdk.extract(MESSAGE_ID)
    assert found.code == "482913" and found.link() == "https://shop.example/verify?t=1"
    assert found.link(("unsubscribe",)) == "https://shop.example/unsub"
    assert [m.id for m in sdk.token_messages("tok")] == [MESSAGE_ID]
    assert sdk.token_message("tok", MESSAGE_ID).id == MESSAGE_ID
    assert sdk.token_attachment("tok", MESSAGE_ID, "file.txt") == b"\x00bytes"

    assert sdk.sent() == [
        ("GET", "/api/domains?type=free"),
        ("POST", "/api/emails"),
        ("POST", "/api/emails/box@example.com/new/example.com"),
        ("POST", "/api/emails/box@example.com/extend"),
        ("DELETE", "/api/emails/box@example.com"),
        ("GET", "/api/messages?email=box%40example.com"),
        ("GET", f"/api/messages/{MESSAGE_ID}"),
        ("DELETE", f"/api/messages/{MESSAGE_ID}"),
        ("GET", f"/api/messages/{MESSAGE_ID}/attachments/a%20b%2F%C3%BC.txt"),
        ("GET", f"/api/messages/{MESSAGE_ID}/raw"),
        ("GET", f"/api/messages/{MESSAGE_ID}/extract"),
        ("GET", "/api/token/tok/messages"),
        ("GET", f"/api/token/tok/messages/{MESSAGE_ID}"),
        ("GET", f"/api/token/tok/messages/{MESSAGE_ID}/attachments/file.txt"),
    ]
    assert json.loads(sdk.requests[1].content) == {"domain": "example.com", "username": "me"}
    keyed = [r.headers.get("authorization") for r in sdk.requests]
    assert keyed[:-3] == ["Bearer eph_k"] * 11  # the token routes carry no key
    assert keyed[-3:] == [None] * 3
    assert all(r.headers["accept"] == "application/json" for r in sdk.requests)


def test_search_filters_become_the_query_and_only_given_ones(kind: str) -> None:
    sdk = make(kind, routes)
    sdk.messages(
        "box@example.com",
        q="reset password",
        sender="shop",
        subject="Code",
        since=MESSAGE_ID,
        unread=True,
    )
    sdk.messages("box@example.com", unread=False)
    first, second = (dict(r.url.params) for r in sdk.requests)
    assert first == {
        "email": "box@example.com",
        "q": "reset password",
        "from": "shop",
        "subject": "Code",
        "since": MESSAGE_ID,
        "unread": "true",
    }
    assert second == {"email": "box@example.com"}


def test_a_dump_by_alias_is_the_contract_json_again() -> None:
    assert Message.model_validate(MESSAGE).model_dump(by_alias=True) == MESSAGE
    assert Mailbox.model_validate(MAILBOX).model_dump(by_alias=True) == MAILBOX


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthenticated),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (405, errors.EphemailError),
        (408, errors.WaitTimedOut),
        (409, errors.Conflict),
        (422, errors.ValidationFailed),
        (429, errors.QuotaExceeded),
        (500, errors.ServerError),
        (503, errors.ServerError),
    ],
)
def test_each_error_status_is_its_exception_with_the_message(
    kind: str, status: int, cls: type[errors.EphemailError]
) -> None:
    sdk = make(kind, lambda _: failed(status, "Said the service."))
    with pytest.raises(cls) as caught:
        sdk.domains()
    assert caught.type is cls
    assert caught.value.status == status and caught.value.message == "Said the service."


def test_422_carries_its_fields_and_500_its_request_id(kind: str) -> None:
    problems = {"type": ["must be free, premium, custom or all"]}
    sdk = make(kind, lambda _: failed(422, "The given data was invalid.", errors=problems))
    with pytest.raises(errors.ValidationFailed) as invalid:
        sdk.domains("x")
    assert invalid.value.errors == problems
    sdk = make(kind, lambda _: failed(500, "Internal server error.", request_id="abc123"))
    with pytest.raises(errors.ServerError) as fault:
        sdk.domains()
    assert fault.value.request_id == "abc123"


def test_429_gives_retry_after_and_the_reset(kind: str) -> None:
    def refuse(_: httpx.Request) -> httpx.Response:
        headers = {
            **RATE,
            "X-RateLimit-Used": "50000",
            "X-RateLimit-Remaining": "0",
            "Retry-After": "3600",
        }
        return httpx.Response(
            429, json={"status": False, "message": "Monthly quota exceeded."}, headers=headers
        )

    sdk = make(kind, refuse)
    with pytest.raises(errors.QuotaExceeded) as caught:
        sdk.domains()
    assert caught.value.retry_after == 3600
    assert caught.value.reset == datetime.fromisoformat("2026-05-01T00:00:00+05:00")
    assert sdk.rate_limit is not None and sdk.rate_limit.remaining == 0


def test_an_error_body_that_is_not_the_envelope_still_raises_by_status(kind: str) -> None:
    sdk = make(kind, lambda _: httpx.Response(502, content=b"<html>bad gateway</html>"))
    with pytest.raises(errors.ServerError) as caught:
        sdk.domains()
    assert caught.value.message == "HTTP 502" and caught.value.errors == {}


def test_no_answer_is_connection_failed(kind: str) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(errors.ConnectionFailed) as caught:
        make(kind, down).domains()
    assert caught.value.status is None and "http://svc.test" in caught.value.message


def test_rate_limit_is_the_latest_headers(kind: str) -> None:
    sdk = make(kind, routes)
    assert sdk.rate_limit is None
    sdk.domains()
    limits = sdk.rate_limit
    assert (limits.limit, limits.used, limits.remaining) == (50000, 124, 49876)
    assert limits.reset == datetime.fromisoformat("2026-05-01T00:00:00+05:00")


class FakeClock:
    """Time that passes only when the fake service waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waiting_service(clock: FakeClock, answers: Iterator[httpx.Response | None]) -> Handler:
    """The wait endpoint: each call takes its whole timeout (a 408) or answers the next
    message of `answers` at once; extract answers a code for ids ending in 'C'."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/extract"):
            message_id = request.url.path.split("/")[3]
            codes = [{"code": "777111", "context": ""}] if message_id.endswith("C") else []
            return ok({"status": True, "data": {"id": message_id, "codes": codes, "links": []}})
        answer = next(answers)
        if answer is None:
            clock.now += int(request.url.params["timeout"])
            return failed(408, "No matching message arrived before the timeout.")
        return answer

    return handle


def test_a_wait_longer_than_the_service_bound_is_reissued_until_the_total(kind: str) -> None:
    clock = FakeClock()
    sdk = make(kind, waiting_service(clock, iter([None] * 10)))
    sdk.client.clock = clock
    with pytest.raises(errors.WaitTimedOut):
        sdk.wait_for_message(
            "box@example.com", timeout=300, sender="shop", subject="code", since=MESSAGE_ID
        )
    timeouts = [int(r.url.params["timeout"]) for r in sdk.requests]
    assert timeouts == [120, 120, 60]
    assert dict(sdk.requests[0].url.params) == {
        "email": "box@example.com",
        "timeout": "120",
        "from": "shop",
        "subject": "code",
        "since": MESSAGE_ID,
    }
    # the client reads for longer than the service holds the call
    assert sdk.requests[0].extensions["timeout"]["read"] > 120


def test_a_reissued_wait_returns_the_message_that_came(kind: str) -> None:
    clock = FakeClock()
    sdk = make(kind, waiting_service(clock, iter([None, ok({"status": True, "data": MESSAGE})])))
    sdk.client.clock = clock
    assert sdk.wait_for_message("box@example.com", timeout=200).id == MESSAGE_ID
    assert [int(r.url.params["timeout"]) for r in sdk.requests] == [120, 80]


def test_wait_for_code_passes_over_messages_without_one(kind: str) -> None:
    def message(message_id: str) -> httpx.Response:
        return ok({"status": True, "data": {**MESSAGE, "id": message_id}})

    clock = FakeClock()
    plain, coded = "A" * 46, "B" * 45 + "C"
    sdk = make(kind, waiting_service(clock, iter([message(plain), None, message(coded)])))
    sdk.client.clock = clock
    assert sdk.wait_for_code("box@example.com", timeout=200) == "777111"
    waits = [r.url.params for r in sdk.requests if r.url.path == "/api/messages/wait"]
    assert [w.get("since") for w in waits] == [None, plain, plain]
    assert [int(w["timeout"]) for w in waits] == [120, 120, 80]


def test_wait_for_link_times_out_when_no_message_has_one(kind: str) -> None:
    clock = FakeClock()
    sdk = make(kind, waiting_service(clock, iter([None] * 5)))
    sdk.client.clock = clock
    with pytest.raises(errors.WaitTimedOut):
        sdk.wait_for_link("box@example.com", timeout=30)


def test_settings_come_from_arguments_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPHEMAIL_BASE_URL", "https://mail.example/api/")
    monkeypatch.setenv("EPHEMAIL_API_KEY", "eph_env")
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return routes(request)

    with Client(transport=httpx.MockTransport(handle)) as client:
        assert client.base_url == "https://mail.example"
        client.domains()
    with Client("http://other.test", "eph_arg", transport=httpx.MockTransport(handle)) as client:
        client.domains()
    assert str(seen[0].url) == "https://mail.example/api/domains"
    assert seen[0].headers["authorization"] == "Bearer eph_env"
    assert str(seen[1].url) == "http://other.test/api/domains"
    assert seen[1].headers["authorization"] == "Bearer eph_arg"
    monkeypatch.delenv("EPHEMAIL_BASE_URL")
    assert resolve_base_url(None) == "http://127.0.0.1:8025"


def test_async_client_closes_its_connections() -> None:
    async def go() -> bool:
        async with AsyncClient("http://svc.test", transport=httpx.MockTransport(routes)) as client:
            await client.domains()
            http = client._http
        return http.is_closed

    assert asyncio.run(go())


STREAM = (
    b": stream of box@example.com\nretry: 2000\n\n"
    b"id: 17\nevent: message.received\n"
    b'data: {"type":"message.received","id":"m1","subject":"Hi"}\n\n'
    b": heartbeat\n\n"
    b'id: 17\nevent: mailbox.deleted\ndata: {"type":"mailbox.deleted"}\n\n'
)


def test_events_are_read_from_the_stream_with_their_ids(kind: str) -> None:
    def stream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=STREAM, headers={**RATE, "content-type": "text/event-stream"}
        )

    sdk = make(kind, stream)
    received, deleted = list(sdk.events("box@example.com", last_event_id="12"))
    assert (received.type, received.id, received.data["subject"]) == (
        "message.received",
        "17",
        "Hi",
    )
    assert (deleted.type, deleted.id) == ("mailbox.deleted", "17")
    list(sdk.token_events("tok"))
    first, second = sdk.requests
    assert first.url.raw_path == b"/api/events?email=box%40example.com"
    assert (
        first.headers["last-event-id"] == "12" and first.headers["authorization"] == "Bearer eph_k"
    )
    assert second.url.raw_path == b"/api/token/tok/events"
    assert "last-event-id" not in second.headers and "authorization" not in second.headers
    assert sdk.rate_limit is not None and sdk.rate_limit.used == 124


def test_a_refused_stream_raises_its_error(kind: str) -> None:
    sdk = make(kind, lambda _: failed(404, "Email not found."))
    with pytest.raises(errors.NotFound):
        list(sdk.events("nobody@example.com"))


def test_event_reader_drops_an_oversized_event_and_keeps_going() -> None:
    from ephemail.client.core import EventReader

    reader = EventReader()
    huge = "x" * 4096
    lines = ["event: message.received", *[f"data: {huge}"] * 300, ""]
    assert [reader.feed(line) for line in lines] == [None] * len(lines)
    after = [reader.feed(line) for line in ("id: 5", "event: mailbox.deleted", "data: {}", "")]
    assert after[-1] is not None and after[-1].type == "mailbox.deleted" and after[-1].id == "5"


def test_no_value_climbs_out_of_its_path_segment(kind: str) -> None:
    sdk = make(kind, routes)
    sdk.message("..")
    sdk.download_attachment("a/../b", "../../domains")
    sdk.delete_mailbox("x@example.com/../../domains")
    paths = [r.url.raw_path.decode() for r in sdk.requests]
    assert paths == [
        "/api/messages/%2E%2E",
        "/api/messages/a%2F..%2Fb/attachments/..%2F..%2Fdomains",
        "/api/emails/x@example.com%2F..%2F..%2Fdomains",
    ]


HOOK = {
    "id": 7,
    "url": "https://ci.example.org/hooks/mail",
    "email": "box@example.com",
    "events": ["message.received"],
    "created_at": "2026-06-28T10:56:52+00:00",
}
DELIVERIES = [
    {
        "event_id": "evt_5c1f0e3a9b7d4e2f8a6c1b0d",
        "event_type": "webhook.test",
        "attempt": 2,
        "status_code": None,
        "error": "timeout",
        "latency_ms": 1001,
        "at": "2026-06-28T10:56:53+00:00",
        "next_retry_at": "2026-06-28T10:57:03+00:00",
    },
    {
        "event_id": "evt_5c1f0e3a9b7d4e2f8a6c1b0d",
        "event_type": "webhook.test",
        "attempt": 1,
        "status_code": 204,
        "error": None,
        "latency_ms": 12,
        "at": "2026-06-28T10:56:52+00:00",
        "next_retry_at": None,
    },
]


def hook_routes(request: httpx.Request) -> httpx.Response:
    """The webhook routes' shapes (api/webhook_schemas.py)."""
    path, method = request.url.path, request.method
    if path == "/api/webhooks" and method == "POST":
        return ok({"status": True, "data": {**HOOK, "secret": "whsec_" + "ab" * 24}})
    if path == "/api/webhooks":
        return ok({"status": True, "data": [HOOK, {**HOOK, "id": 8, "email": None}]})
    if path.endswith("/deliveries"):
        return ok({"status": True, "data": DELIVERIES})
    if path.endswith("/test"):
        return ok({"status": True, "message": "A test event was queued."})
    if path == "/api/webhooks/404" and method == "DELETE":
        return failed(404, "Webhook not found.")
    return ok({"status": True, "message": "Webhook was deleted successfully."})


def test_webhook_endpoints_send_their_requests_and_parse_their_answers(kind: str) -> None:
    sdk = make(kind, hook_routes)
    made = sdk.create_webhook(HOOK["url"], email="box@example.com", events=["message.received"])
    assert made.id == 7 and made.secret == "whsec_" + "ab" * 24
    assert made.created_at == datetime(2026, 6, 28, 10, 56, 52, tzinfo=UTC)
    sdk.create_webhook("https://ci.example.org/all")
    listed = sdk.webhooks()
    assert [(h.id, h.email) for h in listed] == [(7, "box@example.com"), (8, None)]
    assert not hasattr(listed[0], "secret")  # a list never holds a secret
    assert sdk.test_webhook(7) is None
    late, first = sdk.webhook_deliveries(7)
    assert (late.status_code, late.error, late.latency_ms) == (None, "timeout", 1001)
    assert late.next_retry_at == datetime(2026, 6, 28, 10, 57, 3, tzinfo=UTC)
    assert (first.status_code, first.next_retry_at, first.attempt) == (204, None, 1)
    assert sdk.delete_webhook(7) is None
    with pytest.raises(errors.NotFound) as gone:
        sdk.delete_webhook(404)
    assert gone.value.message == "Webhook not found."

    assert sdk.sent() == [
        ("POST", "/api/webhooks"),
        ("POST", "/api/webhooks"),
        ("GET", "/api/webhooks"),
        ("POST", "/api/webhooks/7/test"),
        ("GET", "/api/webhooks/7/deliveries"),
        ("DELETE", "/api/webhooks/7"),
        ("DELETE", "/api/webhooks/404"),
    ]
    assert json.loads(sdk.requests[0].content) == {
        "url": HOOK["url"],
        "email": "box@example.com",
        "events": ["message.received"],
    }
    # Neither scope nor events given: the service's defaults (the account, every type).
    assert json.loads(sdk.requests[1].content) == {"url": "https://ci.example.org/all"}
    assert all(r.headers.get("authorization") == "Bearer eph_k" for r in sdk.requests)


def test_a_refused_receiver_is_validation_failed_with_the_services_reason(kind: str) -> None:
    reason = "the host '127.0.0.1' resolves to a loopback address (127.0.0.1)"
    answer = failed(422, "The given data was invalid.", errors={"url": [reason]})
    sdk = make(kind, lambda _: answer)
    with pytest.raises(errors.ValidationFailed) as refused:
        sdk.create_webhook("http://127.0.0.1/hook")
    assert refused.value.errors == {"url": [reason]}
