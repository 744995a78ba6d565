"""Reading mail: a mailbox's inbox (live), a message, its frame, attachments and source.

Every view exists twice: under `/mailboxes/{address}` for the signed-in owner, and under
`/inbox/{email_token}` for whoever holds the token (read-only, no account). Both open the
mailbox first (web/reader.py) and then share one handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from ephemail.web import mailviews
from ephemail.web.mailhtml import clean_off_loop, linkify_text
from ephemail.web.reader import (
    Gone,
    Opened,
    by_token,
    inline_part_urls,
    listing,
    newest_seq,
    owned,
    read_message,
    size_text,
)
from ephemail.web.render import render
from ephemail.web.sessions import SignedIn, web_context

router = APIRouter()

GONE_TEXT = {
    "deleted": "This mailbox was deleted. Its mail is gone, and this link opens nothing now.",
    "renamed": "This mailbox was renamed. A link to an inbox works for one address only, so "
    "this one no longer opens it; ask its owner for the new link.",
    "expired": "This mailbox has expired. Temporary mailboxes and their mail are removed "
    "when their time is up.",
}


# --- shared handlers ---------------------------------------------------------------------------


async def _inbox(request: Request, opened: Opened) -> Response:
    rows = await listing(request, opened)
    share = None
    if not opened.shared:
        share = "/inbox/" + web_context(request).api.tokens.seal(
            opened.box.id, opened.box.life_secret
        )
    context: dict[str, Any] = {
        "title": opened.box.address,
        "box": opened.box,
        "base": opened.base,
        "rows": rows,
        "since": await newest_seq(request, opened, rows),
        "shared": opened.shared,
        "share_url": share,
    }
    return await render(request, "inbox.html", context)


async def _list(request: Request, opened: Opened) -> Response:
    context = {"rows": await listing(request, opened), "base": opened.base, "box": opened.box}
    return await render(request, "_message_list.html", context)


async def _message(request: Request, opened: Opened, message_id: str) -> Response:
    message = await read_message(request, opened, message_id)
    page = f"{opened.base}/messages/{message.id}"
    held_back = 0
    if message.is_html:
        _, held_back = await clean_off_loop(
            message.content, await inline_part_urls(request, message.id), remote_images=False
        )
    files = [
        {
            "name": f.name,
            "size": size_text(f.size),
            "url": f"{page}/attachments/{quote(f.name, safe='')}",
        }
        for f in message.attachments
    ]
    context: dict[str, Any] = {
        "title": message.subject or "(no subject)",
        "box": opened.box,
        "base": opened.base,
        "shared": opened.shared,
        "message": message,
        "page": page,
        "held_back": held_back,
        "text_body": None if message.is_html else linkify_text(message.content),
        "files": files,
    }
    return await render(request, "message.html", context)


# --- who opens the mailbox --------------------------------------------------------------------


async def owner_box(address: str, request: Request, user: SignedIn) -> Opened:
    return await owned(request, user, address)


async def token_box(email_token: str, request: Request) -> Opened:
    """Raises `Gone` for a token whose mailbox life ended: `gone_page` answers it."""
    return await by_token(request, email_token)


async def gone_page(request: Request, exc: Exception) -> Response:
    """410: the mailbox a token named was deleted, renamed or has expired (the app installs
    this for `Gone`)."""
    assert isinstance(exc, Gone)
    context = {"title": "Mailbox no longer here", "text": GONE_TEXT[exc.reason]}
    return await render(request, "inbox_gone.html", context, status_code=410)


# --- the routes, once per way in ---------------------------------------------------------------


def _routes(prefix: str, opener: Callable[..., Awaitable[Opened]]) -> APIRouter:
    routes = APIRouter()
    message_path = prefix + "/messages/{message_id}"

    @routes.get(prefix)
    async def inbox(request: Request, opened: Opened = Depends(opener)) -> Response:
        return await _inbox(request, opened)

    @routes.get(prefix + "/list")
    async def message_list(request: Request, opened: Opened = Depends(opener)) -> Response:
        return await _list(request, opened)

    @routes.get(prefix + "/events")
    async def events(request: Request, opened: Opened = Depends(opener)) -> Response:
        return mailviews.events(request, opened)

    @routes.get(message_path)
    async def message(
        message_id: str, request: Request, opened: Opened = Depends(opener)
    ) -> Response:
        return await _message(request, opened, message_id)

    @routes.get(message_path + "/body")
    async def frame(
        message_id: str, request: Request, remote: bool = False, opened: Opened = Depends(opener)
    ) -> Response:
        return await mailviews.frame(request, opened, message_id, remote)

    @routes.get(message_path + "/attachments/{name}")
    async def attachment(
        message_id: str, name: str, request: Request, opened: Opened = Depends(opener)
    ) -> Response:
        return await mailviews.attachment(request, opened, message_id, name)

    @routes.get(message_path + "/source")
    async def source(
        message_id: str, request: Request, download: bool = False, opened: Opened = Depends(opener)
    ) -> Response:
        return await mailviews.source(request, opened, message_id, download)

    return routes


router.include_router(_routes("/mailboxes/{address}", owner_box))
router.include_router(_routes("/inbox/{email_token}", token_box))


@router.get("/parts/{message_id}/{position}/{signature}")
async def inline_part(message_id: str, position: int, signature: str, request: Request) -> Response:
    """An inline image: the frame that loads it is sandboxed and sends no cookie, so the URL
    itself, signed for the mailbox's life, is the permission."""
    return await mailviews.inline_part(request, message_id, position, signature)
