"""Messages of the reader's mailboxes: list, read (marks seen), delete, attachments."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ephemail.api.context import ApiContext
from ephemail.api.deps import Endpoint, api_route, context, current_user, owned_route
from ephemail.api.errors import ApiError
from ephemail.api.params import MailboxAddress, SenderFilter, SubjectFilter
from ephemail.api.reading import (
    LISTING_MAX_MESSAGES,
    MESSAGE_NOT_FOUND,
    Reader,
    mailbox_listing,
    message_reading,
    messages_base,
)
from ephemail.api.respond import json_response
from ephemail.api.schemas import MessageResponse, MessagesResponse, StatusMessage
from ephemail.api.search import Filters, filtered_listing
from ephemail.api.shapes import content_disposition
from ephemail.core.ids import is_message_id
from ephemail.events import Event
from ephemail.events.model import MESSAGE_DELETED
from ephemail.store import messages as store
from ephemail.store import webhooks

router = APIRouter()
ATTACHMENT_NOT_FOUND = "Attachment not found."

_MIME = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
_ATTACHMENT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The attachment's bytes, with its own content type",
    }
}


def attachment_route(
    router: APIRouter, summary: str, *, token: bool = False
) -> Callable[[Endpoint], Endpoint]:
    """The attachment download, by key or by token: one path, bytes of their own type."""
    path = "/messages/{message_id}/attachments/{name}"
    shape: dict[str, Any] = {"responses": _ATTACHMENT_RESPONSE, "response_class": Response}
    return api_route(router, "GET", path, summary, 404, token=token, **shape)


async def attachment_response(
    ctx: ApiContext,
    message_id: str,
    name: str,
    reader: Reader,
) -> Response:
    """A key's user's or a token's mailbox's attachment: the bytes with a safe type, an
    RFC 6266 name, and no sniffing into something active."""
    if not is_message_id(message_id):
        raise ApiError(404, ATTACHMENT_NOT_FOUND)
    async with ctx.engine.connect() as conn:
        found = await store.get_attachment(
            conn, message_id, name, user_id=reader.user_id, mailbox_id=reader.mailbox_id
        )
    if found is None:
        raise ApiError(404, ATTACHMENT_NOT_FOUND)
    media = found.content_type.lower() if _MIME.match(found.content_type.lower()) else ""
    return Response(
        found.data,
        media_type=media or "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(found.name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@api_route(
    router,
    "GET",
    "/messages",
    "Messages of one mailbox, newest first",
    404,
    422,
    model=MessagesResponse,
)
async def list_messages(
    request: Request,
    email: MailboxAddress,
    limit: int | None = Query(
        None,
        description=f"Extension: at most this many messages (1–{LISTING_MAX_MESSAGES}, "
        f"default {LISTING_MAX_MESSAGES})",
    ),
    before: str | None = Query(
        None,
        description="Extension: only messages older than this message id (a page's `next_before`)",
    ),
    q: str | None = Query(
        None,
        description="Extension: full-text search over subject, sender and text; every word "
        "must occur (as a word or the start of one), any case",
        examples=["verify acme"],
    ),
    sender: SenderFilter = None,
    subject: SubjectFilter = None,
    since: str | None = Query(
        None,
        description="Extension: only messages after this one (a message id, or an "
        "event id), as for /api/messages/wait",
    ),
    unread: str | None = Query(
        None,
        description="Extension: `true` lists only messages not yet read",
        examples=["true"],
    ),
) -> Response:
    ctx = context(request)
    user_id = current_user(request).id
    filters = Filters(q, sender, subject, since, unread)
    if filters.given():
        body = await filtered_listing(ctx, user_id, email, limit, before, filters)
    else:
        body = await mailbox_listing(ctx, user_id, email, limit, before)
    return json_response(body)


@owned_route(
    router, "GET", "/messages/{message_id}", MessageResponse, "Read one message (marks it seen)"
)
async def read_message(request: Request, message_id: str) -> Response:
    ctx = context(request)
    body = await message_reading(
        ctx, message_id, messages_base(ctx), Reader(user_id=current_user(request).id)
    )
    return json_response(body)


@owned_route(router, "DELETE", "/messages/{message_id}", StatusMessage, "Delete one message")
async def delete_message(request: Request, message_id: str) -> Response:
    if not is_message_id(message_id):
        raise ApiError(404, MESSAGE_NOT_FOUND)
    user_id = current_user(request).id
    async with context(request).engine.begin() as conn:
        deleted = await store.delete_message(conn, message_id, user_id=user_id)
        if deleted is not None:
            data = {"id": message_id}
            await webhooks.enqueue(conn, user_id, deleted, MESSAGE_DELETED, data)
    if deleted is None:
        raise ApiError(404, MESSAGE_NOT_FOUND)
    context(request).events.publish_soon([Event(MESSAGE_DELETED, deleted, {"id": message_id})])
    return json_response({"status": True, "message": "Message was deleted successfully."})


@attachment_route(router, "Download an attachment")
async def download_attachment(request: Request, message_id: str, name: str) -> Response:
    ctx = context(request)
    return await attachment_response(
        ctx, message_id, name, Reader(user_id=current_user(request).id)
    )
