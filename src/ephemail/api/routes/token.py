"""Read-only routes opened by an email_token: no API key. The web inbox uses them.

Each request counts against the mailbox owner's monthly quota (see api/gate.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ephemail.api.context import ApiContext
from ephemail.api.deps import api_route, context
from ephemail.api.errors import ApiError
from ephemail.api.reading import MAILBOX_NOT_FOUND, Reader, listing_json, message_reading
from ephemail.api.respond import json_response
from ephemail.api.routes.messages import attachment_response, attachment_route
from ephemail.api.schemas import MessageResponse, MessagesResponse
from ephemail.core.periods import Period
from ephemail.store import mailboxes
from ephemail.store.models import Mailbox, User

router = APIRouter(prefix="/token/{email_token}", tags=["email token"])


async def live_mailbox(ctx: ApiContext, email_token: str) -> Mailbox | None:
    """The live mailbox the token names; None for forged, stale and expired tokens."""
    opened = ctx.tokens.open(email_token)
    if opened is None:
        return None
    async with ctx.engine.connect() as conn:
        return await mailboxes.live_by_id(conn, *opened)


async def owner_of(ctx: ApiContext, email_token: str) -> tuple[User, Period, Mailbox] | None:
    """The account whose quota a token request counts against (the gate asks)."""
    box = await live_mailbox(ctx, email_token)
    found = None if box is None else await ctx.auth.owner(box.user_id)
    return None if found is None or box is None else (*found, box)


async def token_mailbox(request: Request, email_token: str) -> Mailbox:
    """The live mailbox the token names; forged, stale and expired tokens all give 404."""
    opened = getattr(request.state, "token_opened", None)  # found by the gate
    box = (
        opened if isinstance(opened, Mailbox) else await live_mailbox(context(request), email_token)
    )
    if box is None:
        raise ApiError(404, MAILBOX_NOT_FOUND)
    return box


def _base(request: Request, email_token: str) -> str:
    return f"{context(request).public_url}/api/token/{email_token}/messages"


@api_route(
    router,
    "GET",
    "/messages",
    "Messages of the token's mailbox",
    404,
    model=MessagesResponse,
    token=True,
)
async def token_messages(request: Request, email_token: str) -> Response:
    box = await token_mailbox(request, email_token)
    body = await listing_json(context(request), box.id, box.address, _base(request, email_token))
    return json_response(body)


@api_route(
    router,
    "GET",
    "/messages/{message_id}",
    "Read one message of the token's mailbox (marks it seen)",
    404,
    model=MessageResponse,
    token=True,
)
async def token_message(request: Request, email_token: str, message_id: str) -> Response:
    box = await token_mailbox(request, email_token)
    base = _base(request, email_token)
    body = await message_reading(context(request), message_id, base, Reader(mailbox_id=box.id))
    return json_response(body)


@attachment_route(router, "Download an attachment of the token's mailbox", token=True)
async def token_attachment(
    request: Request, email_token: str, message_id: str, name: str
) -> Response:
    box = await token_mailbox(request, email_token)
    return await attachment_response(context(request), message_id, name, Reader(mailbox_id=box.id))
