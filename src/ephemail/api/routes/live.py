"""Extensions for live reading: wait for a message, and a mailbox's events as a stream.

`GET /api/messages/wait` answers like `GET /api/messages/{id}` once a matching message is
committed; `GET /api/events` and `GET /api/token/{email_token}/events` are Server-Sent
Events. The work is in api/live.py; this module is their HTTP face and their documentation.
"""

from __future__ import annotations

import weakref
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from ephemail.api import live
from ephemail.api.context import ApiContext
from ephemail.api.deps import api_route, context, current_user
from ephemail.api.errors import ApiError
from ephemail.api.params import MailboxAddress, SenderFilter, SubjectFilter
from ephemail.api.reading import MAILBOX_NOT_FOUND
from ephemail.api.respond import error_response, json_response
from ephemail.api.routes.token import token_mailbox
from ephemail.api.schemas import ErrorBody, MessageResponse
from ephemail.core.addresses import AddressError, normalise_address
from ephemail.store.accounts import hash_key

router = APIRouter()

_TIMEOUT: dict[int | str, dict[str, Any]] = {
    408: {"model": ErrorBody, "description": "No matching message arrived before the timeout"}
}
_STREAM_EXAMPLE = (
    ": stream of box@example.com\nretry: 2000\n\n"
    "id: 1764652212000000001\nevent: message.received\n"
    'data: {"type":"message.received","mailbox":"box@example.com","id":"…",'
    '"from":"Shop","from_email":"no-reply@shop.example","subject":"Your code",'
    '"receivedAt":"2026-12-02 05:10:12"}\n\n'
    ": heartbeat\n\n"
    "id: 1764652212000000001\nevent: mailbox.deleted\n"
    'data: {"type":"mailbox.deleted","mailbox":"box@example.com"}\n\n'
)
_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/event-stream": {"schema": {"type": "string"}, "example": _STREAM_EXAMPLE}
        },
        "description": (
            "Server-Sent Events: message.received, message.deleted, mailbox.renamed, "
            "mailbox.deleted and mailbox.expired (the last two end the stream). Every event "
            "has an `id:`; send it back as `Last-Event-ID` to get what was missed first. "
            "A comment every 15 s keeps the connection open. Counts once against the quota."
        ),
    }
}
_WAIT_EXAMPLE = {
    "status": True,
    "data": {
        "is_seen": True,
        "subject": "Your code",
        "from": "Shop",
        "from_email": "no-reply@shop.example",
        "to": "box@example.com",
        "receivedAt": "2026-12-02 05:10:12",
        "id": "0" * 46,
        "html": False,
        "content": "Your code is 123456",
        "attachments": [],
    },
}


def _refused(ctx: ApiContext, refusal: ApiError) -> Response:
    """429 (this account's streams) or 503 (this process's): the envelope, and when to retry."""
    return error_response(
        refusal.status_code,
        refusal.message,
        headers={"Retry-After": str(max(1, int(ctx.streams.heartbeat)))},
    )


async def _owned(ctx: ApiContext, user_id: int, email: str) -> int:
    try:
        address = normalise_address(email)
    except AddressError as exc:
        raise ApiError(422, live.INVALID, {"email": [str(exc)]}) from exc
    box = await ctx.reads.owned_mailbox(user_id, address)
    if box is None:
        raise ApiError(404, MAILBOX_NOT_FOUND)
    return box[0]


def _stream(
    ctx: ApiContext, user_id: int, box_id: int, request: Request, *, token: bool
) -> Response:
    release = live.open_stream(ctx, user_id)
    if isinstance(release, ApiError):
        return _refused(ctx, release)
    resume = live.last_event_id(request.headers.get("last-event-id"))
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key_hash = hash_key(key.strip()) if not token and scheme.lower() == "bearer" else None
    body = live.mailbox_events(ctx, release, box_id, resume, end_on_rename=token, key_hash=key_hash)
    # A stream whose client left before its first byte never runs its `finally`.
    weakref.finalize(body, release)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@api_route(
    router,
    "GET",
    "/messages/wait",
    "Extension: wait for a message, then read it (marks it seen)",
    404,
    422,
    model=MessageResponse,
    responses={200: {"content": {"application/json": {"example": _WAIT_EXAMPLE}}}, **_TIMEOUT},
    tags=["messages"],
)
async def wait_message(
    request: Request,
    email: MailboxAddress,
    timeout: str | None = Query(
        None,
        description=f"Seconds to wait, {live.WAIT_MIN}–{live.WAIT_MAX} (default 30); then 408",
        examples=["30"],
    ),
    since: str | None = Query(
        None,
        description="Only messages after this one: a message id, or an event id of the "
        "event stream. Without it, the oldest matching message already there answers at once",
    ),
    sender: SenderFilter = None,
    subject: SubjectFilter = None,
) -> Response:
    ctx = context(request)
    user = current_user(request)
    seconds = live.wait_timeout(timeout)
    box_id = await _owned(ctx, user.id, email)
    after = await live.since_seq(ctx, box_id, since)
    filters = live.Filters(sender, subject)
    return json_response(await live.wait_for_message(ctx, user.id, box_id, after, filters, seconds))


@api_route(
    router,
    "GET",
    "/events",
    "Extension: the mailbox's events as Server-Sent Events",
    404,
    422,
    responses=_STREAM,
    response_class=StreamingResponse,
    tags=["events"],
)
async def mailbox_events(
    request: Request,
    email: MailboxAddress,
) -> Response:
    ctx = context(request)
    user = current_user(request)
    box_id = await _owned(ctx, user.id, email)
    return _stream(ctx, user.id, box_id, request, token=False)


@api_route(
    router,
    "GET",
    "/token/{email_token}/events",
    "Extension: the token's mailbox's events as Server-Sent Events",
    404,
    responses=_STREAM,
    token=True,
    response_class=StreamingResponse,
    tags=["email token"],
)
async def token_events(request: Request, email_token: str) -> Response:
    box = await token_mailbox(request, email_token)
    return _stream(context(request), box.user_id, box.id, request, token=True)
