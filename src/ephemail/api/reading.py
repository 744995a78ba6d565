"""Reading mailboxes and messages: shared by the FastAPI routes and the hot path."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from ephemail.api.context import ApiContext
from ephemail.api.errors import ApiError
from ephemail.api.shapes import message_data
from ephemail.core.addresses import AddressError, normalise_address
from ephemail.core.ids import is_message_id
from ephemail.store import messages as store
from ephemail.store.messages import StoredMessage

MESSAGE_NOT_FOUND = "Message not found."
MAILBOX_NOT_FOUND = "Email not found."


def messages_base(ctx: ApiContext) -> str:
    return f"{ctx.public_url}/api/messages"


async def mailbox_listing(ctx: ApiContext, user_id: int, email: str) -> bytes:
    """`GET /api/messages?email=`: the user's live mailbox, newest message first (JSON)."""
    try:
        address = normalise_address(email)
    except AddressError as exc:
        raise ApiError(422, "The given data was invalid.", {"email": [str(exc)]}) from exc
    box = await ctx.reads.owned_mailbox(user_id, address)
    if box is None:
        raise ApiError(404, MAILBOX_NOT_FOUND)
    return await listing_json(ctx, box[0], box[1], messages_base(ctx))


async def listing_json(ctx: ApiContext, mailbox_id: int, address: str, base: str) -> bytes:
    """The listing body, from cached message objects where they exist."""
    versions = await ctx.reads.list_versions(mailbox_id)
    parts: list[bytes | None] = [ctx.fragments.get((base, mid, seen)) for mid, seen in versions]
    missing = [mid for (mid, _), part in zip(versions, parts, strict=True) if part is None]
    if missing:
        loaded = await ctx.reads.messages_by_ids(missing)
        for i, (mid, _) in enumerate(versions):
            message = loaded.get(mid)
            if parts[i] is None and message is not None:
                part = orjson.dumps(message_data(message, base))
                ctx.fragments.put((base, mid, message.is_seen), part)
                parts[i] = part
    body = b",".join(p for p in parts if p is not None)
    return b'{"status":true,"mailbox":' + orjson.dumps(address) + b',"messages":[' + body + b"]}"


async def read_and_mark_seen(
    ctx: ApiContext, message_id: str, *, user_id: int | None = None, mailbox_id: int | None = None
) -> StoredMessage:
    """One readable message, marked seen; the answer already says `is_seen: true`."""
    if not is_message_id(message_id):
        raise ApiError(404, MESSAGE_NOT_FOUND)
    found = await ctx.reads.get_message(message_id, user_id=user_id, mailbox_id=mailbox_id)
    if found is None:
        raise ApiError(404, MESSAGE_NOT_FOUND)
    if not found.is_seen:
        await _mark_seen_once(ctx, message_id)
        found = dataclasses.replace(found, is_seen=True)
    return found


async def _mark_seen_once(ctx: ApiContext, message_id: str) -> None:
    """One write per message however many read it at once (a test suite's pollers do)."""

    async def mark() -> None:
        async with ctx.engine.begin() as conn:
            await store.mark_seen(conn, message_id)

    await ctx.marking_seen.run(message_id, mark)


async def message_reading(ctx: ApiContext, user_id: int, message_id: str) -> dict[str, Any]:
    """`GET /api/messages/{id}`."""
    found = await read_and_mark_seen(ctx, message_id, user_id=user_id)
    return {"status": True, "data": message_data(found, messages_base(ctx))}
