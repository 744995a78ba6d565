"""Reading mailboxes and messages: shared by the FastAPI routes and the hot path."""

from __future__ import annotations

import dataclasses

import orjson

from ephemail.api.context import ApiContext
from ephemail.api.errors import ApiError, invalid, valid_address
from ephemail.api.shapes import listing_item, message_data
from ephemail.core.ids import is_message_id
from ephemail.store import messages as store
from ephemail.store.ingest import WriterClosed
from ephemail.store.models import StoredMessage

MESSAGE_NOT_FOUND = "Message not found."
MAILBOX_NOT_FOUND = "Email not found."

# Bounds of one listing answer (docs/architecture.md, "Bounded answers"). A body longer than
# LISTING_CONTENT_CHARS is cut in the listing (Gmail clips at ~100 KB, so ordinary mail is
# whole); a page holds at most LISTING_MAX_MESSAGES messages (the default mailbox cap) and
# stops before its JSON would pass LISTING_MAX_BYTES; `next_before` then says where to go on.
LISTING_CONTENT_CHARS = 128 * 1024
LISTING_MAX_MESSAGES = 1000
LISTING_MAX_BYTES = 16 * 1024 * 1024
_LOAD_CHUNK = 16  # messages loaded from the database at a time while a page is built


@dataclasses.dataclass(frozen=True)
class Page:
    """Which part of a mailbox a listing answers (extension: `limit`, `before`)."""

    limit: int = LISTING_MAX_MESSAGES
    before: str | None = None


def listing_page(limit: int | None, before: str | None) -> Page:
    """Check the paging parameters; the same answer on the hot path and the route."""
    if limit is not None and not 1 <= limit <= LISTING_MAX_MESSAGES:
        raise invalid({"limit": [f"must be between 1 and {LISTING_MAX_MESSAGES}"]})
    if before is not None and not is_message_id(before):
        raise invalid({"before": ["is not a message id"]})
    return Page(LISTING_MAX_MESSAGES if limit is None else limit, before)


def messages_base(ctx: ApiContext) -> str:
    return f"{ctx.public_url}/api/messages"


async def mailbox_listing(
    ctx: ApiContext, user_id: int, email: str, limit: int | None, before: str | None
) -> bytes:
    """`GET /api/messages?email=`: the user's live mailbox, newest message first (JSON).

    Paging is checked before the mailbox, as FastAPI would check the query's types first."""
    page = listing_page(limit, before)
    box = await ctx.reads.owned_mailbox(user_id, valid_address(email, "email"))
    if box is None:
        raise ApiError(404, MAILBOX_NOT_FOUND)
    return await listing_json(ctx, box[0], box[1], messages_base(ctx), page)


async def listing_json(
    ctx: ApiContext,
    mailbox_id: int,
    address: str,
    base: str,
    page: Page | None = None,
    chosen: list[tuple[str, bool]] | None = None,
) -> bytes:
    """The listing body, from cached message objects where they exist.

    Built a few messages at a time with each body cut in the database, so a request holds
    at most about LISTING_MAX_BYTES of JSON, whatever the mailbox holds. `chosen`: the
    (id, is_seen) to list, up to one past the page (a search found them), else the page's.
    """
    page = page or Page()
    versions = (
        chosen
        if chosen is not None
        else await ctx.reads.page_versions(mailbox_id, page.limit + 1, page.before)
    )
    if versions is None:
        raise invalid({"before": ["is not a message of this mailbox"]})
    more = len(versions) > page.limit
    shown = versions[: page.limit]
    cached = ctx.fragments.get_listed(base, shown)
    pieces = [b'{"status":true,"mailbox":' + orjson.dumps(address) + b',"messages":[']
    size = len(pieces[0]) + 80  # the closing bytes and a `next_before`
    if None not in cached:  # the usual case: every object cached
        hits: list[bytes] = cached  # type: ignore[assignment]  # no None, checked above
        if size + sum(map(len, hits)) + len(hits) <= LISTING_MAX_BYTES:
            # Within bounds: one piece, the same bytes the loop below would make.
            pieces.append(b",".join(hits))
            return _close(pieces, shown[-1][0] if more else None)
    last: str | None = None
    for start in range(0, len(shown), _LOAD_CHUNK):
        end = start + _LOAD_CHUNK
        found = await _fragments(ctx, shown[start:end], cached[start:end], base)
        if not found:
            continue
        parts = [part for _, part in found]
        whole = sum(map(len, parts)) + len(parts)
        if size + whole <= LISTING_MAX_BYTES:  # the chunk fits as one piece
            if last is not None:
                pieces.append(b",")
            pieces.append(b",".join(parts))
            size += whole
            last = found[-1][0]
            continue
        for mid, part in found:
            if last is not None:
                if size + len(part) + 1 > LISTING_MAX_BYTES:
                    return _close(pieces, last)
                pieces.append(b",")
            pieces.append(part)
            size += len(part) + 1
            last = mid
    return _close(pieces, last if more else None)


async def _fragments(
    ctx: ApiContext, versions: list[tuple[str, bool]], parts: list[bytes | None], base: str
) -> list[tuple[str, bytes]]:
    """(id, listing JSON) of the messages still there, in the order given; `parts` holds
    what the cache had for each (None: load it)."""
    missing = [mid for (mid, _), part in zip(versions, parts, strict=True) if part is None]
    if missing:
        loaded = await ctx.reads.messages_by_ids(missing, LISTING_CONTENT_CHARS + 1)
        for i, (mid, _) in enumerate(versions):
            message = loaded.get(mid)
            if parts[i] is None and message is not None:
                part = orjson.dumps(listing_item(message, base, LISTING_CONTENT_CHARS))
                ctx.fragments.put((base, mid, message.is_seen), part)
                parts[i] = part
    return [(mid, p) for (mid, _), p in zip(versions, parts, strict=True) if p is not None]


def _close(pieces: list[bytes], next_before: str | None) -> bytes:
    """One copy of the answer, with `next_before` (extension) when a page was cut short."""
    if next_before is None:
        pieces.append(b"]}")
    else:
        pieces.append(b'],"next_before":' + orjson.dumps(next_before) + b"}")
    return b"".join(pieces)


@dataclasses.dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: a key's user, an email token's mailbox, or both (a signed-in owner's inbox
    page). Only a message that every id given owns is found; any other is the same 404."""

    user_id: int | None = None
    mailbox_id: int | None = None


async def read_and_mark_seen(ctx: ApiContext, message_id: str, reader: Reader) -> StoredMessage:
    """One readable message, marked seen; the answer already says `is_seen: true`."""
    if not is_message_id(message_id):
        raise ApiError(404, MESSAGE_NOT_FOUND)
    found = await ctx.reads.get_message(
        message_id, user_id=reader.user_id, mailbox_id=reader.mailbox_id
    )
    if found is None:
        raise ApiError(404, MESSAGE_NOT_FOUND)
    if not found.is_seen:
        await _mark_seen_once(ctx, message_id)
        found = dataclasses.replace(found, is_seen=True)
    return found


async def _mark_seen_once(ctx: ApiContext, message_id: str) -> None:
    """One write per message however many read it at once (a test suite's pollers do)."""

    async def mark() -> None:
        if ctx.seen_writer is not None:
            try:
                await ctx.seen_writer((message_id,))
                return
            except WriterClosed:
                pass  # stopping, or the commit process is gone: write it here
        async with ctx.engine.begin() as conn:
            await store.mark_seen(conn, message_id)

    await ctx.marking_seen.run(message_id, mark)


async def message_reading(
    ctx: ApiContext,
    message_id: str,
    base: str,
    reader: Reader,
) -> bytes:
    """`GET …/messages/{id}` (JSON) of a key's user or a token's mailbox; marks it seen."""
    found = await read_and_mark_seen(ctx, message_id, reader)
    return orjson.dumps({"status": True, "data": message_data(found, base)})
