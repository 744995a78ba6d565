"""Read-only routes opened by an email_token: no API key. The web inbox uses them.

Each request counts against the mailbox owner's monthly quota (see api/ratelimit.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ephemail.api.auth import Period
from ephemail.api.context import ApiContext
from ephemail.api.deps import context, errors
from ephemail.api.errors import ApiError, json_response
from ephemail.api.reading import listing_json, read_and_mark_seen
from ephemail.api.routes.messages import ATTACHMENT_RESPONSE, attachment_response
from ephemail.api.schemas import MessageResponse, MessagesResponse
from ephemail.api.shapes import message_data
from ephemail.core.ids import is_message_id
from ephemail.store import mailboxes
from ephemail.store import messages as store
from ephemail.store.models import Mailbox, User

router = APIRouter(prefix="/token/{email_token}", tags=["email token"])
INVALID_TOKEN = "Email not found."


async def live_mailbox(ctx: ApiContext, email_token: str) -> Mailbox | None:
    """The live mailbox the token names; None for forged, stale and expired tokens."""
    opened = ctx.tokens.open(email_token)
    if opened is None:
        return None
    async with ctx.engine.connect() as conn:
        return await mailboxes.live_by_id(conn, *opened)


async def owner_of(ctx: ApiContext, email_token: str) -> tuple[User, Period, Mailbox] | None:
    """The account whose quota a token request counts against (the quota middleware asks)."""
    box = await live_mailbox(ctx, email_token)
    found = None if box is None else await ctx.auth.owner(box.user_id)
    return None if found is None or box is None else (*found, box)


async def _mailbox(request: Request, email_token: str) -> Mailbox:
    """The live mailbox the token names; forged, stale and expired tokens all give 404."""
    opened = getattr(request.state, "token_opened", None)  # found by the quota middleware
    box = (
        opened if isinstance(opened, Mailbox) else await live_mailbox(context(request), email_token)
    )
    if box is None:
        raise ApiError(404, INVALID_TOKEN)
    return box


def _base(request: Request, email_token: str) -> str:
    return f"{context(request).public_url}/api/token/{email_token}/messages"


@router.get(
    "/messages",
    response_model=MessagesResponse,
    responses=errors(404, 429, 500),
    summary="Messages of the token's mailbox",
)
async def token_messages(request: Request, email_token: str) -> Response:
    box = await _mailbox(request, email_token)
    body = await listing_json(context(request), box.id, box.address, _base(request, email_token))
    return Response(body, media_type="application/json")


@router.get(
    "/messages/{message_id}",
    response_model=MessageResponse,
    responses=errors(404, 429, 500),
    summary="Read one message of the token's mailbox (marks it seen)",
)
async def token_message(request: Request, email_token: str, message_id: str) -> Response:
    box = await _mailbox(request, email_token)
    found = await read_and_mark_seen(context(request), message_id, mailbox_id=box.id)
    return json_response({"status": True, "data": message_data(found, _base(request, email_token))})


@router.get(
    "/messages/{message_id}/attachments/{name}",
    responses={**ATTACHMENT_RESPONSE, **errors(404, 429, 500)},
    summary="Download an attachment of the token's mailbox",
    response_class=Response,
)
async def token_attachment(
    request: Request, email_token: str, message_id: str, name: str
) -> Response:
    box = await _mailbox(request, email_token)
    if not is_message_id(message_id):
        raise ApiError(404, "Attachment not found.")
    async with context(request).engine.connect() as conn:
        found = await store.get_attachment(conn, message_id, name, user_id=None, mailbox_id=box.id)
    if found is None:
        raise ApiError(404, "Attachment not found.")
    return attachment_response(found)
