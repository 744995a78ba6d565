"""What a webhook registration and its test event must pass, for the API routes and the
website alike: the receiver guard, the mailbox's owner, the per-account bound, and the
messages a refusal gives (as ApiError, so both show the same words)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ephemail.api.context import ApiContext
from ephemail.api.errors import ApiError, invalid, valid_address
from ephemail.api.reading import MAILBOX_NOT_FOUND
from ephemail.store import mailboxes
from ephemail.store import webhooks as store
from ephemail.webhooks import EVENT_TYPES, TEST_EVENT
from ephemail.webhooks.guard import Refused, parse_target, resolve

WEBHOOK_NOT_FOUND = "Webhook not found."
MAX_ID_DIGITS = 18  # below 2^63 on every backend


def hook_id(text: str) -> int:
    """A webhook id from a path: digits that fit the column, else a webhook not found."""
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise ApiError(404, WEBHOOK_NOT_FOUND)
    return int(text)


async def register(
    ctx: ApiContext, user_id: int, url: str, email: str | None, events: Sequence[str] | None
) -> store.Webhook:
    """A new hook for the account (`email` None) or one of its live mailboxes; the secret
    is in the answer only here. `events` are known types (the callers check); none: all."""
    options = ctx.webhooks
    try:
        await resolve(parse_target(url), options.allow_private)
    except Refused as exc:
        raise invalid({"url": [str(exc)]}) from None
    chosen = list(dict.fromkeys(events)) if events else list(EVENT_TYPES)
    async with ctx.engine.begin() as conn:
        box_id = None
        if email is not None:
            box_id = await mailboxes.owned_id(conn, user_id, valid_address(email, "email"))
            if box_id is None:
                raise ApiError(404, MAILBOX_NOT_FOUND)
        if await store.count_for_user(conn, user_id) >= options.max_per_account:
            raise ApiError(403, f"An account may hold {options.max_per_account} webhooks.")
        return await store.create(conn, user_id, url, box_id, chosen)


async def remove(ctx: ApiContext, user_id: int, text_id: str) -> None:
    async with ctx.engine.begin() as conn:
        if not await store.remove(conn, user_id, hook_id(text_id)):
            raise ApiError(404, WEBHOOK_NOT_FOUND)


async def send_test(ctx: ApiContext, user_id: int, text_id: str) -> None:
    """Queue a `webhook.test` event for this hook alone and wake the dispatcher."""
    async with ctx.engine.begin() as conn:
        hook = await store.get(conn, user_id, hook_id(text_id))
        if hook is None:
            raise ApiError(404, WEBHOOK_NOT_FOUND)
        data = {"webhook_id": hook.id, "message": "This is a test event."}
        await store.enqueue(conn, user_id, None, TEST_EVENT, data, only_hook=hook.id)
    ctx.webhooks.wake()


async def owned_deliveries(
    ctx: ApiContext, user_id: int, text_id: str
) -> tuple[store.Webhook, list[Any]]:
    """The user's hook and its latest attempts, newest first; 404 for anyone else's."""
    async with ctx.engine.connect() as conn:
        hook = await store.get(conn, user_id, hook_id(text_id))
        if hook is None:
            raise ApiError(404, WEBHOOK_NOT_FOUND)
        return hook, await store.deliveries(conn, hook.id)
