"""Extensions for test suites: a message's codes and links, and its raw source.

`GET …/messages/{id}/extract` reads the bytes received (not the stored JSON body, which
holds only one of a multipart's bodies) and runs mail/extract over them; it does not mark
the message seen. `GET …/messages/{id}/raw` hands the bytes back exactly as received, as
`message/rfc822`, after checking them against the SHA-256 taken at receipt. Both exist for
an API key's messages and for a token's mailbox, with the same 404 for missing and foreign.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ephemail.api.context import ApiContext
from ephemail.api.deps import Endpoint, api_route, context, current_user
from ephemail.api.errors import ApiError
from ephemail.api.reading import MESSAGE_NOT_FOUND, Reader
from ephemail.api.respond import json_response
from ephemail.api.routes.token import token_mailbox
from ephemail.api.schemas import ExtractResponse
from ephemail.core.ids import is_message_id
from ephemail.mail.extract import Extraction, extract_message
from ephemail.mail.prepare import unpack
from ephemail.store import messages as store

router = APIRouter()
log = logging.getLogger(__name__)

# Above this many bytes the parse and extraction run in a thread, off the event loop.
INLINE_EXTRACT_BYTES = 16 * 1024
_EXTRACT_EXAMPLE = {
    "status": True,
    "data": {
        "id": "ap94AWDg123ELQz07vrVB9dLXlbqZM5NGwYxOJKko8n6m1",
        "codes": [{"code": "482913", "context": "Your verification code is 482913."}],
        "links": [
            {
                "url": "https://app.example.com/verify?token=Zx81kQ",
                "text": "Confirm email",
                "kind": "verify",
            },
            {"url": "https://example.com/unsubscribe?u=7f3a", "text": "Unsubscribe",
             "kind": "unsubscribe"},
        ],
    },
}  # fmt: skip
_EXTRACT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"example": _EXTRACT_EXAMPLE}}}
}
_RAW_EXAMPLE = (
    "Received: from mx.example.org …\r\nFrom: Example <hello@example.org>\r\n"
    "To: box@example.com\r\nSubject: Your code\r\n\r\nYour code is 482913\r\n"
)
_RAW: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"},
                                       "example": _RAW_EXAMPLE}},
        "description": "The message exactly as received over SMTP (an .eml file)",
    }
}  # fmt: skip


async def _raw(ctx: ApiContext, message_id: str, reader: Reader) -> bytes:
    """The bytes received; 404 as for reading the message; 500 if the copy is damaged."""
    if not is_message_id(message_id):
        raise ApiError(404, MESSAGE_NOT_FOUND)
    async with ctx.engine.connect() as conn:
        found = await store.owned_raw(
            conn, message_id, user_id=reader.user_id, mailbox_id=reader.mailbox_id
        )
    if found is None:
        raise ApiError(404, MESSAGE_NOT_FOUND)
    packed, digest = found
    raw = (
        unpack(packed)
        if len(packed) < INLINE_EXTRACT_BYTES
        else await asyncio.to_thread(unpack, packed)
    )
    if hashlib.sha256(raw).hexdigest() != digest:
        log.error("stored copy of message %s does not match its SHA-256", message_id)
        raise RuntimeError("stored message does not match its digest")  # → 500 with an id
    return raw


def _extract_answer(message_id: str, found: Extraction) -> Response:
    data = {
        "id": message_id,
        "codes": [{"code": c.code, "context": c.context} for c in found.codes],
        "links": [{"url": x.url, "text": x.text, "kind": x.kind} for x in found.links],
    }
    return json_response({"status": True, "data": data})


async def _extract(ctx: ApiContext, message_id: str, reader: Reader) -> Response:
    raw = await _raw(ctx, message_id, reader)
    if len(raw) <= INLINE_EXTRACT_BYTES:
        found = extract_message(raw)
    else:
        found = await asyncio.to_thread(extract_message, raw)
    return _extract_answer(message_id, found)


def _raw_answer(message_id: str, raw: bytes) -> Response:
    return Response(
        raw,
        media_type="message/rfc822",
        headers={
            "Content-Disposition": f'attachment; filename="{message_id}.eml"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


_SHAPES: dict[str, dict[str, Any]] = {
    "extract": {"model": ExtractResponse, "responses": _EXTRACT},
    "raw": {"responses": _RAW, "response_class": Response},
}


def _source_route(
    what: str, summary: str, *, token: bool = False
) -> Callable[[Endpoint], Endpoint]:
    """`…/messages/{id}/{what}`, by key (listed with the messages) or by token."""
    path = f"/messages/{{message_id}}/{what}"
    tags = ["email token" if token else "messages"]
    if token:
        path = "/token/{email_token}" + path
    return api_route(router, "GET", path, summary, 404, token=token, tags=tags, **_SHAPES[what])


@_source_route(
    "extract", "Extension: the message's one-time codes and links (does not mark it seen)"
)
async def extract(request: Request, message_id: str) -> Response:
    ctx = context(request)
    return await _extract(ctx, message_id, Reader(user_id=current_user(request).id))


@_source_route("raw", "Extension: the message exactly as received (message/rfc822)")
async def raw_source(request: Request, message_id: str) -> Response:
    ctx = context(request)
    raw = await _raw(ctx, message_id, Reader(user_id=current_user(request).id))
    return _raw_answer(message_id, raw)


@_source_route(
    "extract", "Extension: codes and links of a message of the token's mailbox", token=True
)
async def token_extract(request: Request, email_token: str, message_id: str) -> Response:
    box = await token_mailbox(request, email_token)
    return await _extract(context(request), message_id, Reader(mailbox_id=box.id))


@_source_route("raw", "Extension: a message of the token's mailbox exactly as received", token=True)
async def token_raw(request: Request, email_token: str, message_id: str) -> Response:
    box = await token_mailbox(request, email_token)
    raw = await _raw(context(request), message_id, Reader(mailbox_id=box.id))
    return _raw_answer(message_id, raw)
