"""The non-page answers of a mailbox: the message frame, its inline parts, attachments,
the raw source and the live event stream. Each sets the headers it needs itself.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
import weakref

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response, StreamingResponse

from ephemail.api import live
from ephemail.api.context import ApiContext, StreamLimits
from ephemail.api.errors import ApiError
from ephemail.api.reading import Reader
from ephemail.api.routes.messages import attachment_response
from ephemail.api.shapes import content_disposition
from ephemail.core.ids import is_message_id
from ephemail.store import message_parts
from ephemail.web.mailhtml import clean_off_loop, frame_document, frame_policy
from ephemail.web.reader import (
    Opened,
    inline_part_urls,
    part_signature,
    part_sources,
    peek_message,
)
from ephemail.web.sessions import web_context

_IMAGE = re.compile(r"^image/[a-z0-9.+-]+$")
_SANDBOXED = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
SOURCE_LIMIT = 64 * 1024 * 1024  # more than any message the SMTP front accepts


async def frame(request: Request, opened: Opened, message_id: str, remote: bool) -> Response:
    """The document of the sandboxed frame that shows a message's HTML."""
    message = await peek_message(request, opened, message_id)
    if message.is_html:
        parts = await inline_part_urls(request, message.id)
        body, _ = await clean_off_loop(message.content, parts, remote_images=remote)
    else:  # text mail is shown on the page; here it is only escaped text, should one ask
        parts, body = {}, "<pre>" + _escape(message.content) + "</pre>"
    sources = part_sources(request, message.id) if parts else []
    return HTMLResponse(
        frame_document(body),
        headers={
            "Content-Security-Policy": frame_policy(sources, remote_images=remote),
            "X-Frame-Options": "SAMEORIGIN",
            # The frame's URL may hold an email token: no image request may carry it off.
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def inline_part(request: Request, message_id: str, position: int, signature: str) -> Response:
    """An inline image of a message, by the signed URL its frame was given."""
    ctx = web_context(request)
    if not is_message_id(message_id) or not 0 <= position < 10_000:
        raise HTTPException(404)
    async with ctx.api.engine.connect() as conn:
        life = await message_parts.part_life(conn, message_id)
        expected = part_signature(ctx.secret, message_id, position, life or "")
        if life is None or not hmac.compare_digest(expected, signature):
            raise HTTPException(404)
        part = await message_parts.part_at(conn, message_id, position)
    media = part.content_type.lower() if part else ""
    if part is None or not _IMAGE.match(media):
        raise HTTPException(404)
    return Response(
        part.data,
        media_type=media,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _SANDBOXED,
            "Cache-Control": "private, no-store",
        },
    )


async def attachment(request: Request, opened: Opened, message_id: str, name: str) -> Response:
    """The API's own download: `Content-Disposition: attachment`, nosniff, sandboxed."""
    try:
        return await attachment_response(
            web_context(request).api,
            message_id,
            name,
            Reader(opened.user_id, opened.box.id),
        )
    except ApiError as exc:
        raise HTTPException(404) from exc


async def source(request: Request, opened: Opened, message_id: str, download: bool) -> Response:
    """The message as received: shown as plain text, or downloaded as a .eml file."""
    message = await peek_message(request, opened, message_id)
    async with web_context(request).api.engine.connect() as conn:
        raw = await message_parts.raw_source(conn, message.id, SOURCE_LIMIT)
    if raw is None:
        raise HTTPException(404)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": _SANDBOXED}
    if download:
        headers["Content-Disposition"] = content_disposition(f"message-{message.id[:16]}.eml")
        return Response(raw, media_type="message/rfc822", headers=headers)
    headers["Content-Disposition"] = "inline"
    text = raw.decode("utf-8", errors="replace")
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


# --- the live stream ---------------------------------------------------------------------------


def _web_api(request: Request) -> ApiContext:
    """The API's context with stream limits of the site's own: browser tabs never take the
    event streams an account's API clients may open (and pages never count on the quota)."""
    app_state = request.app.state
    found: ApiContext | None = getattr(app_state, "web_streams_api", None)
    if found is None:
        api = web_context(request).api
        limits = StreamLimits(
            heartbeat=api.streams.heartbeat, per_user=api.streams.per_user, total=api.streams.total
        )
        found = dataclasses.replace(api, streams=limits)
        app_state.web_streams_api = found
    return found


def _since(request: Request) -> int | None:
    """Resume after the browser's last event id, else after what the page showed."""
    resumed = live.last_event_id(request.headers.get("last-event-id"))
    if resumed is not None:
        return resumed
    return live.last_event_id(request.query_params.get("since"))


def events(request: Request, opened: Opened) -> Response:
    """The mailbox's events as Server-Sent Events: the API's stream, counted per account
    (the owner's, for a token) against the site's own open-stream limit."""
    api = _web_api(request)
    release = live.open_stream(api, opened.box.user_id)
    if isinstance(release, ApiError):
        too_many = release.status_code == 429
        message = "Too many open pages of this account's mailboxes." if too_many else None
        raise HTTPException(release.status_code, message or release.message)
    body = live.mailbox_events(
        api, release, opened.box.id, _since(request), end_on_rename=opened.shared
    )
    weakref.finalize(body, release)  # a client gone before the first byte never runs `finally`
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
