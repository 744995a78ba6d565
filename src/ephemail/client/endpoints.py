"""Every endpoint as a flow (see core.py): the request it makes and how its answer parses.

Composite flows (`wait_for_message` re-issuing the wait call, `wait_for_code` reading
messages until one has a code) are written here once for both clients.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypedDict, TypeVar, Unpack
from urllib.parse import quote

from pydantic import BaseModel

from ephemail.client.core import Answer, Call, Flow
from ephemail.client.errors import WaitTimedOut
from ephemail.client.models import (
    ACTION_KINDS,
    CreatedWebhook,
    Delivery,
    DomainList,
    Extraction,
    Mailbox,
    Message,
    Webhook,
)

Model = TypeVar("Model", bound=BaseModel)

WAIT_MAX = 120
"""The service's bound on one wait call, in seconds; longer waits take several calls."""
WAIT_SLACK = 15.0
"""Extra read time beyond a wait call's own timeout, for the answer to travel."""

Clock = Callable[[], float]
Finder = Callable[[Extraction], str | None]
"""What a wait for a code or link looks for in a message's extraction (None: not there)."""


def _segment(value: str) -> str:
    """One path segment, percent-encoded (an address keeps its `@`); `.` and `..` too, so
    no value can climb out of its path."""
    if value in {".", ".."}:
        return value.replace(".", "%2E")
    return quote(value, safe="@")


def _filters(**values: str | bool | None) -> dict[str, str]:
    """Query parameters that were given, by their API names."""
    out = {}
    for name, value in values.items():
        if value is None or value is False:
            continue
        out[name.rstrip("_")] = "true" if value is True else str(value)
    return out


def _one(call: Call) -> Flow[Answer]:
    answer = yield call
    return answer


def _data(call: Call, model: type[Model]) -> Flow[Model]:
    answer = yield call
    return model.model_validate(answer.data())


def _messages(call: Call) -> Flow[list[Message]]:
    answer = yield call
    return [Message.model_validate(item) for item in answer.json()["messages"]]


def domains(type: str | None = None) -> Flow[DomainList]:
    return _data(Call("GET", "/api/domains", _filters(type=type)), DomainList)


def create_mailbox(domain: str | None = None, username: str | None = None) -> Flow[Mailbox]:
    body = _filters(domain=domain, username=username)
    return _data(Call("POST", "/api/emails", json=body or None), Mailbox)


def rename_mailbox(email: str, new_username: str, domain: str) -> Flow[Mailbox]:
    path = f"/api/emails/{_segment(email)}/{_segment(new_username)}/{_segment(domain)}"
    return _data(Call("POST", path), Mailbox)


def extend_mailbox(email: str) -> Flow[Mailbox]:
    return _data(Call("POST", f"/api/emails/{_segment(email)}/extend"), Mailbox)


def delete_mailbox(email: str) -> Flow[None]:
    yield from _one(Call("DELETE", f"/api/emails/{_segment(email)}"))


class MessageFilters(TypedDict, total=False):
    """Search within a mailbox: `q` over subject, sender and text; the others narrow it."""

    q: str | None
    sender: str | None
    subject: str | None
    since: str | None
    unread: bool | None


class WaitOptions(TypedDict, total=False):
    """`timeout` in seconds (any length); only messages after `since` (a message id or an
    event id) whose sender / subject contain `sender` / `subject`, in any case."""

    timeout: float
    since: str | None
    sender: str | None
    subject: str | None


def messages(email: str, **filters: Unpack[MessageFilters]) -> Flow[list[Message]]:
    sender = filters.pop("sender", None)
    params = _filters(email=email, from_=sender, **filters)
    return _messages(Call("GET", "/api/messages", params))


def message(message_id: str) -> Flow[Message]:
    return _data(Call("GET", f"/api/messages/{_segment(message_id)}"), Message)


def delete_message(message_id: str) -> Flow[None]:
    yield from _one(Call("DELETE", f"/api/messages/{_segment(message_id)}"))


def _bytes(call: Call) -> Flow[bytes]:
    answer = yield from _one(call)
    return answer.content


def download_attachment(message_id: str, name: str) -> Flow[bytes]:
    path = f"/api/messages/{_segment(message_id)}/attachments/{_segment(name)}"
    return _bytes(Call("GET", path))


def raw(message_id: str) -> Flow[bytes]:
    """The message exactly as received (`message/rfc822`)."""
    return _bytes(Call("GET", f"/api/messages/{_segment(message_id)}/raw"))


def extract(message_id: str) -> Flow[Extraction]:
    return _data(Call("GET", f"/api/messages/{_segment(message_id)}/extract"), Extraction)


def token_messages(email_token: str) -> Flow[list[Message]]:
    return _messages(Call("GET", f"/api/token/{_segment(email_token)}/messages", keyed=False))


def token_message(email_token: str, message_id: str) -> Flow[Message]:
    path = f"/api/token/{_segment(email_token)}/messages/{_segment(message_id)}"
    return _data(Call("GET", path, keyed=False), Message)


def token_attachment(email_token: str, message_id: str, name: str) -> Flow[bytes]:
    path = (
        f"/api/token/{_segment(email_token)}/messages/{_segment(message_id)}"
        f"/attachments/{_segment(name)}"
    )
    return _bytes(Call("GET", path, keyed=False))


def _data_list(call: Call, model: type[Model]) -> Flow[list[Model]]:
    answer = yield call
    return [model.model_validate(item) for item in answer.data()]


def create_webhook(
    url: str, email: str | None = None, events: list[str] | None = None
) -> Flow[CreatedWebhook]:
    """For the account, or the mailbox `email`; `events` None: every event type."""
    body: dict[str, object] = {"url": url}
    if email is not None:
        body["email"] = email
    if events is not None:
        body["events"] = list(events)
    return _data(Call("POST", "/api/webhooks", json=body), CreatedWebhook)


def webhooks() -> Flow[list[Webhook]]:
    return _data_list(Call("GET", "/api/webhooks"), Webhook)


def _webhook_path(webhook_id: int, tail: str = "") -> str:
    return f"/api/webhooks/{_segment(str(webhook_id))}{tail}"


def delete_webhook(webhook_id: int) -> Flow[None]:
    yield from _one(Call("DELETE", _webhook_path(webhook_id)))


def test_webhook(webhook_id: int) -> Flow[None]:
    """Queue a `webhook.test` event for this hook; its delivery shows in its log."""
    yield from _one(Call("POST", _webhook_path(webhook_id, "/test")))


def webhook_deliveries(webhook_id: int) -> Flow[list[Delivery]]:
    return _data_list(Call("GET", _webhook_path(webhook_id, "/deliveries")), Delivery)


def wait_for_message(
    email: str, clock: Clock = time.monotonic, **options: Unpack[WaitOptions]
) -> Flow[Message]:
    """The oldest matching message after `since` (or already there without it), waiting
    up to `timeout` seconds in calls of at most WAIT_MAX; WaitTimedOut after that."""
    deadline = clock() + options.get("timeout", 30)
    query = _filters(
        email=email,
        since=options.get("since"),
        from_=options.get("sender"),
        subject=options.get("subject"),
    )
    while True:
        seconds = max(1, min(WAIT_MAX, math.ceil(deadline - clock())))
        params = {**query, "timeout": str(seconds)}
        try:
            answer = yield Call("GET", "/api/messages/wait", params, wait=seconds + WAIT_SLACK)
        except WaitTimedOut:
            if clock() >= deadline:
                raise
            continue
        return Message.model_validate(answer.data())


def wait_for_extraction(
    email: str,
    found: Finder,
    clock: Clock = time.monotonic,
    **options: Unpack[WaitOptions],
) -> Flow[tuple[Message, str]]:
    """The first message (after `since`) in which `found` finds something, and that thing;
    messages without it are passed over. WaitTimedOut when none came within `timeout`."""
    deadline = clock() + options.get("timeout", 30)
    while True:
        left = deadline - clock()
        if left <= 0:
            raise WaitTimedOut("No matching message arrived before the timeout.", 408)
        options["timeout"] = left
        msg = yield from wait_for_message(email, clock, **options)
        value = found((yield from extract(msg.id)))
        if value is not None:
            return msg, value
        options["since"] = msg.id


def code_of(extraction: Extraction) -> str | None:
    return extraction.code


def link_finder(kinds: tuple[str, ...] = ACTION_KINDS) -> Finder:
    return lambda extraction: extraction.link(kinds)


def events(email: str, last_event_id: str | None = None) -> Call:
    """The stream call of a mailbox's events (read by the clients, not a flow)."""
    resume = {"Last-Event-ID": last_event_id} if last_event_id else {}
    return Call("GET", "/api/events", {"email": email}, headers=resume)


def token_events(email_token: str, last_event_id: str | None = None) -> Call:
    resume = {"Last-Event-ID": last_event_id} if last_event_id else {}
    return Call("GET", f"/api/token/{_segment(email_token)}/events", keyed=False, headers=resume)
