"""Extension: webhooks. Register receivers for the account or one mailbox, list and delete
them, send a test event, and read the deliveries log. Ownership as everywhere: another
user's hook is a 404. docs/webhooks.md says what a receiver gets and how it checks it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from ephemail.api import webhook_actions as actions
from ephemail.api.context import ApiContext
from ephemail.api.deps import api_route, context, current_user, owned_route
from ephemail.api.respond import json_response
from ephemail.api.schemas import StatusMessage
from ephemail.api.webhook_schemas import (
    CreatedWebhookResponse,
    CreateWebhookBody,
    DeliveriesResponse,
    WebhooksResponse,
)
from ephemail.core.time import iso_utc
from ephemail.store import webhooks as store

router = APIRouter(tags=["webhooks"])

_F = TypeVar("_F", bound=Callable[..., Any])
_Act = Callable[[ApiContext, int, str], Awaitable[None]]


def _data(hook: store.Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "email": hook.email,
        "events": list(hook.events),
        "created_at": iso_utc(hook.created_at),
    }


@api_route(
    router,
    "POST",
    "/webhooks",
    "Extension: register a webhook for the account or one mailbox",
    400,
    403,
    404,
    422,
    model=CreatedWebhookResponse,
)
async def create_webhook(request: Request, body: CreateWebhookBody) -> Response:
    hook = await actions.register(
        context(request), current_user(request).id, body.url, body.email, body.events
    )
    return json_response({"status": True, "data": {**_data(hook), "secret": hook.secret}})


@api_route(
    router,
    "GET",
    "/webhooks",
    "Extension: the account's webhooks (without their secrets)",
    model=WebhooksResponse,
)
async def list_webhooks(request: Request) -> Response:
    ctx = context(request)
    async with ctx.engine.connect() as conn:
        found = await store.list_for_user(conn, current_user(request).id)
    return json_response({"status": True, "data": [_data(h) for h in found]})


def _hook_route(method: str, tail: str, model: Any, summary: str) -> Callable[[_F], _F]:
    """A route on one of the caller's webhooks (someone else's is a 404)."""
    return owned_route(router, method, "/webhooks/{webhook_id}" + tail, model, summary)


async def _acted(request: Request, webhook_id: str, act: _Act, message: str) -> Response:
    """Run an action on the caller's webhook and answer with the contract's status message."""
    await act(context(request), current_user(request).id, webhook_id)
    return json_response({"status": True, "message": message})


@_hook_route(
    "DELETE", "", StatusMessage, "Extension: delete a webhook; its pending deliveries end with it"
)
async def delete_webhook(request: Request, webhook_id: str) -> Response:
    return await _acted(request, webhook_id, actions.remove, "Webhook was deleted successfully.")


@_hook_route("POST", "/test", StatusMessage, "Extension: send the webhook a `webhook.test` event")
async def test_webhook(request: Request, webhook_id: str) -> Response:
    return await _acted(request, webhook_id, actions.send_test, "A test event was queued.")


@_hook_route(
    "GET",
    "/deliveries",
    DeliveriesResponse,
    "Extension: the webhook's latest 100 delivery attempts, newest first",
)
async def webhook_deliveries(request: Request, webhook_id: str) -> Response:
    _, rows = await actions.owned_deliveries(context(request), current_user(request).id, webhook_id)
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
