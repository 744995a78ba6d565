"""Extension: webhooks. Register receivers for the account or one mailbox, list and delete
them, send a test event, and read the deliveries log. Ownership as everywhere: another
user's hook is a 404. docs/webhooks.md says what a receiver gets and how it checks it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ephemail.api.deps import KEYED_ERRORS, context, current_user, errors
from ephemail.api.errors import ApiError, invalid, valid_address
from ephemail.api.reading import MAILBOX_NOT_FOUND
from ephemail.api.respond import json_response
from ephemail.api.schemas import StatusMessage
from ephemail.api.webhook_schemas import (
    CreatedWebhookResponse,
    CreateWebhookBody,
    DeliveriesResponse,
    WebhooksResponse,
)
from ephemail.core.time import iso_utc
from ephemail.store import mailboxes
from ephemail.store import webhooks as store
from ephemail.webhooks import EVENT_TYPES, TEST_EVENT
from ephemail.webhooks.guard import Refused, parse_target, resolve

router = APIRouter(tags=["webhooks"])
WEBHOOK_NOT_FOUND = "Webhook not found."
MAX_ID_DIGITS = 18  # below 2^63 on every backend


def _hook_id(text: str) -> int:
    """A webhook id from the path: digits that fit the column, else a webhook not found."""
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise ApiError(404, WEBHOOK_NOT_FOUND)
    return int(text)


def _data(hook: store.Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "email": hook.email,
        "events": list(hook.events),
        "created_at": iso_utc(hook.created_at),
    }


@router.post(
    "/webhooks",
    response_model=CreatedWebhookResponse,
    responses=errors(400, 403, 404, 422, *KEYED_ERRORS),
    summary="Extension: register a webhook for the account or one mailbox",
)
async def create_webhook(request: Request, body: CreateWebhookBody) -> Response:
    ctx = context(request)
    user = current_user(request)
    options = ctx.webhooks
    try:
        await resolve(parse_target(body.url), options.allow_private)
    except Refused as exc:
        raise invalid({"url": [str(exc)]}) from None
    events = list(dict.fromkeys(body.events)) if body.events else list(EVENT_TYPES)
    async with ctx.engine.begin() as conn:
        box_id = None
        if body.email is not None:
            box_id = await mailboxes.owned_id(conn, user.id, valid_address(body.email, "email"))
            if box_id is None:
                raise ApiError(404, MAILBOX_NOT_FOUND)
        if await store.count_for_user(conn, user.id) >= options.max_per_account:
            raise ApiError(403, f"An account may hold {options.max_per_account} webhooks.")
        hook = await store.create(conn, user.id, body.url, box_id, events)
    return json_response({"status": True, "data": {**_data(hook), "secret": hook.secret}})


@router.get(
    "/webhooks",
    response_model=WebhooksResponse,
    responses=errors(*KEYED_ERRORS),
    summary="Extension: the account's webhooks (without their secrets)",
)
async def list_webhooks(request: Request) -> Response:
    ctx = context(request)
    async with ctx.engine.connect() as conn:
        found = await store.list_for_user(conn, current_user(request).id)
    return json_response({"status": True, "data": [_data(h) for h in found]})


@router.delete(
    "/webhooks/{webhook_id}",
    response_model=StatusMessage,
    responses=errors(404, *KEYED_ERRORS),
    summary="Extension: delete a webhook; its pending deliveries end with it",
)
async def delete_webhook(request: Request, webhook_id: str) -> Response:
    async with context(request).engine.begin() as conn:
        if not await store.remove(conn, current_user(request).id, _hook_id(webhook_id)):
            raise ApiError(404, WEBHOOK_NOT_FOUND)
    return json_response({"status": True, "message": "Webhook was deleted successfully."})


@router.post(
    "/webhooks/{webhook_id}/test",
    response_model=StatusMessage,
    responses=errors(404, *KEYED_ERRORS),
    summary="Extension: send the webhook a `webhook.test` event",
)
async def test_webhook(request: Request, webhook_id: str) -> Response:
    ctx = context(request)
    user = current_user(request)
    async with ctx.engine.begin() as conn:
        hook = await store.get(conn, user.id, _hook_id(webhook_id))
        if hook is None:
            raise ApiError(404, WEBHOOK_NOT_FOUND)
        data = {"webhook_id": hook.id, "message": "This is a test event."}
        await store.enqueue(conn, user.id, None, TEST_EVENT, data, only_hook=hook.id)
    ctx.webhooks.wake()
    return json_response({"status": True, "message": "A test event was queued."})


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=DeliveriesResponse,
    responses=errors(404, *KEYED_ERRORS),
    summary="Extension: the webhook's latest 100 delivery attempts, newest first",
)
async def webhook_deliveries(request: Request, webhook_id: str) -> Response:
    ctx = context(request)
    async with ctx.engine.connect() as conn:
        hook = await store.get(conn, current_user(request).id, _hook_id(webhook_id))
        if hook is None:
            raise ApiError(404, WEBHOOK_NOT_FOUND)
        rows = await store.deliveries(conn, hook.id)
    data = [
        {
            "event_id": r.event_id,
            "event_type": r.event_type,
            "attempt": r.attempt,
            "status_code": r.status_code,
            "error": r.error,
            "latency_ms": r.latency_ms,
            "at": iso_utc(r.at_ms // 1000),
            "next_retry_at": None if r.next_retry_ms is None else iso_utc(r.next_retry_ms // 1000),
        }
        for r in rows
    ]
    return json_response({"status": True, "data": data})
