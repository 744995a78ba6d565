"""Which mailbox a reading page shows, and what it reads there.

A mailbox is opened either by its signed-in owner (`owned`: someone else's, a missing or an
expired mailbox is a 404 page, as in the API) or by its email token (`by_token`: the token
must name the mailbox's current life, so a delete, a rename or expiry ends it; the page then
says which). Reading goes through the API's own functions (ownership, marking seen).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from starlette.exceptions import HTTPException

from ephemail.api.errors import ApiError
from ephemail.api.reading import Reader, read_and_mark_seen
from ephemail.core.ids import is_message_id
from ephemail.core.periods import zone
from ephemail.store import mailboxes, message_parts
from ephemail.store.models import Mailbox, StoredMessage, User
from ephemail.web.mailhtml import text_preview
from ephemail.web.sessions import optional_user, web_context

LIST_LIMIT = 200  # newest messages an inbox page lists (a temporary mailbox rarely holds more)
PREVIEW_CHARS = 4000  # of each body, read to make the list's one-line preview


@dataclass(frozen=True)
class Opened:
    """A mailbox opened for reading, and how its pages are addressed."""

    box: Mailbox
    base: str  # path of its inbox: /mailboxes/{address} or /inbox/{token}
    user_id: int | None  # the signed-in owner; None when opened by a token

    @property
    def shared(self) -> bool:
        return self.user_id is None


class Gone(Exception):
    """A token whose mailbox life has ended; `reason` is deleted, renamed or expired."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


async def owned(request: Request, user: User, address: str) -> Opened:
    ctx = web_context(request)
    async with ctx.api.engine.connect() as conn:
        box_id = await mailboxes.owned_id(conn, user.id, address)
        box = await mailboxes.get_by_id(conn, box_id) if box_id is not None else None
    if box is None:
        raise HTTPException(404)
    return Opened(box, "/mailboxes/" + quote(box.address, safe=""), user.id)


async def by_token(request: Request, token: str) -> Opened:
    """The token's live mailbox; `Gone` when it named one whose life ended, 404 when it
    never named anything (forged, altered, another service's)."""
    ctx = web_context(request)
    opened = ctx.api.tokens.open(token)
    if opened is None:
        raise HTTPException(404)
    async with ctx.api.engine.connect() as conn:
        box = await mailboxes.get_by_id(conn, opened[0])
    if box is None:
        raise Gone("deleted")
    if not hmac.compare_digest(box.life_secret, opened[1]):
        raise Gone("renamed")
    if box.expire_at <= time.time():
        raise Gone("expired")
    return Opened(box, "/inbox/" + token, None)


def _visible(message_id: str) -> str:
    if not is_message_id(message_id):
        raise HTTPException(404)
    return message_id


async def read_message(request: Request, opened: Opened, message_id: str) -> StoredMessage:
    """The message, marked seen as `GET /api/messages/{id}` marks it."""
    try:
        return await read_and_mark_seen(
            web_context(request).api,
            _visible(message_id),
            Reader(opened.user_id, opened.box.id),
        )
    except ApiError as exc:
        raise HTTPException(404) from exc


async def peek_message(request: Request, opened: Opened, message_id: str) -> StoredMessage:
    """The message without marking it (the frame and the source of a page already read)."""
    found = await web_context(request).api.reads.get_message(
        _visible(message_id), user_id=opened.user_id, mailbox_id=opened.box.id
    )
    if found is None:
        raise HTTPException(404)
    return found


async def listing(request: Request, opened: Opened) -> list[dict[str, Any]]:
    """The newest messages, newest first, each with a one-line preview."""
    reads = web_context(request).api.reads
    user = await optional_user(request)
    zone_name = user.timezone if user else "UTC"
    versions = await reads.page_versions(opened.box.id, LIST_LIMIT, None) or []
    found = await reads.messages_by_ids([mid for mid, _ in versions], PREVIEW_CHARS)
    rows = []
    for mid, _ in versions:
        message = found.get(mid)
        if message is not None:
            preview = text_preview(message.content, message.is_html)
            url = f"{opened.base}/messages/{mid}"
            when = short_time(message.received_at, zone_name)
            rows.append({"m": message, "preview": preview, "url": url, "when": when})
    return rows


async def newest_seq(request: Request, opened: Opened, rows: list[dict[str, Any]]) -> int:
    """Where the page's live stream starts: after the newest message the page shows."""
    if not rows:
        return 0
    reads = web_context(request).api.reads
    return await reads.seq_of(opened.box.id, rows[0]["m"].id) or 0


# --- inline parts: URLs a sandboxed frame loads without a session ----------------------------


def part_signature(secret: bytes, message_id: str, position: int, life: str) -> str:
    """Binds a part URL to the mailbox's life: a delete, rename or expiry ends it."""
    text = f"part\0{message_id}\0{position}\0{life}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()[:32]


async def inline_part_urls(request: Request, message_id: str) -> dict[str, str]:
    """Content-ID → the signed URL of that part of the message."""
    ctx = web_context(request)
    async with ctx.api.engine.connect() as conn:
        life = await message_parts.part_life(conn, message_id)
        parts = await message_parts.inline_parts(conn, message_id) if life else []
    urls: dict[str, str] = {}
    for position, content_id, _ in parts:
        signature = part_signature(ctx.secret, message_id, position, life or "")
        urls.setdefault(content_id, f"/parts/{message_id}/{position}/{signature}")
    return urls


def part_sources(request: Request, message_id: str) -> list[str]:
    """The CSP sources for a message's parts: its part path, on the origin the browser
    used and on the public URL's (they differ behind a proxy)."""
    origins = {str(request.base_url).rstrip("/")}
    public = urlsplit(web_context(request).public_url)
    if public.scheme and public.netloc:
        origins.add(f"{public.scheme}://{public.netloc}")
    return sorted(f"{origin}/parts/{message_id}/" for origin in origins)


def short_time(epoch: int, zone_name: str) -> str:
    """`14:05` today, `2 Dec` this year, else `2025-12-02`: a list's time column."""
    here = zone(zone_name)
    moment = datetime.fromtimestamp(epoch, UTC).astimezone(here)
    today = datetime.now(UTC).astimezone(here)
    if moment.date() == today.date():
        return moment.strftime("%H:%M")
    if moment.year == today.year:
        return f"{moment.day} {moment.strftime('%b')}"
    return moment.strftime("%Y-%m-%d")


def size_text(size: int) -> str:
    """`12 KB`, `1.4 MB`: an attachment's size for people."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
