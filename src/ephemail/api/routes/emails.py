"""Mailboxes: create (random or chosen), rename, delete."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ephemail.api.context import ApiContext
from ephemail.api.deps import api_route, context, current_user
from ephemail.api.errors import ApiError, invalid, valid_address
from ephemail.api.reading import MAILBOX_NOT_FOUND
from ephemail.api.respond import json_response
from ephemail.api.schemas import CreateMailboxBody, MailboxResponse, StatusMessage
from ephemail.api.shapes import mailbox_data
from ephemail.core.addresses import AddressError, validate_username
from ephemail.events import Event
from ephemail.events.model import MAILBOX_CREATED, MAILBOX_DELETED, MAILBOX_RENAMED
from ephemail.store import mailboxes, webhooks
from ephemail.store.errors import Conflict, Forbidden, Invalid, NotFound, StoreError
from ephemail.store.models import Mailbox

router = APIRouter()
MAX_BODY = 64 * 1024  # the body holds two short strings at most


def store_error(exc: StoreError, field: str) -> ApiError:
    """Store failures → the contract's codes."""
    if isinstance(exc, NotFound):
        return ApiError(404, MAILBOX_NOT_FOUND)
    if isinstance(exc, Forbidden):
        return ApiError(403, str(exc))
    if isinstance(exc, Conflict):
        return ApiError(409, str(exc))
    if isinstance(exc, Invalid):
        return invalid({field: [str(exc)]})
    return ApiError(400, str(exc))


async def _json_body(request: Request) -> dict[str, Any]:
    """The optional body of POST /api/emails: empty, or a JSON object."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ApiError(413, "The request body is too large.")
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "The request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return value


BODY_FIELDS = ("domain", "username")


def _body_fields(values: dict[str, Any]) -> tuple[str | None, str | None]:
    """`domain` and `username` from the body; any other key is refused, not ignored.

    A misspelt key (`usernme`) used to make a random mailbox the caller did not ask for.
    """
    problems: dict[str, list[str]] = {
        key: [f"The {key} field is not accepted; the body takes domain and username only."]
        for key in values
        if key not in BODY_FIELDS
    }
    for name in BODY_FIELDS:
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            problems[name] = [f"The {name} must be a string."]
    if problems:
        raise invalid(problems)
    return values.get("domain"), values.get("username")


def _checked_username(value: str | None, field: str) -> None:
    """Checked here, before the store, so its 422 names this field and never the domain."""
    if value is None:
        return
    try:
        validate_username(value)
    except AddressError as exc:
        raise invalid({field: [str(exc)]}) from exc


@api_route(
    router,
    "POST",
    "/emails",
    "Create a new random mailbox (or, as an extension, a chosen one)",
    400,
    403,
    409,
    413,
    422,
    model=MailboxResponse,
    # The optional body is read by hand (a bad one is a clean 400) and documented here.
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": CreateMailboxBody.model_json_schema()}},
        }
    },
)
async def create_email(
    request: Request,
    domain: str | None = Query(None, description="Extension: the domain to use"),
    username: str | None = Query(None, description="Extension: the username to use"),
) -> Response:
    body_domain, body_username = _body_fields(await _json_body(request))
    domain = domain if body_domain is None else body_domain
    username = username if body_username is None else body_username
    _checked_username(username, "username")
    ctx = context(request)
    user = current_user(request)
    try:
        async with ctx.engine.begin() as conn:
            box = await mailboxes.create_mailbox(conn, user, domain=domain, username=username)
            created = {"mailbox": box.address}
            await webhooks.enqueue(conn, user.id, box.id, MAILBOX_CREATED, created)
    except StoreError as exc:
        raise store_error(exc, "domain") from exc  # the username was checked above
    ctx.events.publish_soon([Event(MAILBOX_CREATED, box.id, {"mailbox": box.address})])
    return _mailbox_answer(ctx, box)


def _mailbox_answer(ctx: ApiContext, box: Mailbox) -> Response:
    """A created or renamed mailbox, with the token of its new life."""
    token = ctx.tokens.seal(box.id, box.life_secret)
    return json_response({"status": True, "data": mailbox_data(box, token)})


@api_route(
    router,
    "POST",
    "/emails/{current_email}/{new_username}/{domain}",
    "Move a mailbox to a new username and domain",
    403,
    404,
    409,
    422,
    model=MailboxResponse,
)
async def rename_email(
    request: Request, current_email: str, new_username: str, domain: str
) -> Response:
    ctx = context(request)
    user = current_user(request)
    current = valid_address(current_email, "current_email")
    _checked_username(new_username, "new_username")
    try:
        async with ctx.engine.begin() as conn:
            box = await mailboxes.rename_mailbox(conn, user, current, new_username, domain)
            renamed = {"mailbox": box.address, "previous": current}
            if box.address != current:  # hooks of the old address end with it
                await webhooks.forget_mailbox(conn, box.id)
                await webhooks.enqueue(conn, user.id, box.id, MAILBOX_RENAMED, renamed)
    except StoreError as exc:
        raise store_error(exc, "domain") from exc  # the username was checked above
    ctx.events.publish_soon([Event(MAILBOX_RENAMED, box.id, renamed)])
    return _mailbox_answer(ctx, box)


@api_route(
    router,
    "DELETE",
    "/emails/{email}",
    "Delete a mailbox with all its messages and attachments",
    404,
    422,
    model=StatusMessage,
)
async def delete_email(request: Request, email: str) -> Response:
    address = valid_address(email, "email")
    user_id = current_user(request).id
    async with context(request).engine.begin() as conn:
        deleted = await mailboxes.delete_mailbox(conn, user_id, address)
        if deleted is not None:  # the mailbox's own hooks went with it; the account's hear
            await webhooks.enqueue(conn, user_id, None, MAILBOX_DELETED, {"mailbox": address})
    if deleted is None:
        raise ApiError(404, MAILBOX_NOT_FOUND)
    context(request).events.publish_soon([Event(MAILBOX_DELETED, deleted, {"mailbox": address})])
    return json_response({"status": True, "message": "Email has been successfully deleted."})


_EXTEND_EXAMPLE = {
    "status": True,
    "data": {
        "id": 2301,
        "email": "randombox@example.com",
        "domain": "example.com",
        "expire_at": "2026-06-28T11:16:52+00:00",
        "expires_in_seconds": 1180,
        "created_at": "2026-06-28T10:56:52+00:00",
        "email_token": "encrypted-email-token",
    },
}


@api_route(
    router,
    "POST",
    "/emails/{email}/extend",
    "Extension: let a mailbox live one plan lifetime longer, up to the plan's maximum",
    403,
    404,
    422,
    model=MailboxResponse,
    responses={200: {"content": {"application/json": {"example": _EXTEND_EXAMPLE}}}},
    description=(
        "The new `expire_at` is the earlier of (`expire_at` + the plan's lifetime) and "
        "(`created_at` + the plan's maximum lifetime, `ephemail plan set --max-lifetime`). "
        "403 when the mailbox is already at that maximum. The mailbox keeps its address, "
        "its messages and its email_token's life."
    ),
)
async def extend_email(request: Request, email: str) -> Response:
    ctx = context(request)
    address = valid_address(email, "email")
    try:
        async with ctx.engine.begin() as conn:
            box = await mailboxes.extend_mailbox(conn, current_user(request), address)
    except StoreError as exc:
        raise store_error(exc, "email") from exc
    return _mailbox_answer(ctx, box)
