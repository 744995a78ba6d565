"""The signed-in account's mailboxes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from ephemail.store import mailboxes
from ephemail.store.models import User
from ephemail.web.render import render
from ephemail.web.sessions import current_user, web_context

router = APIRouter()


@router.get("/mailboxes")
async def mailbox_list(request: Request, user: User = Depends(current_user)) -> Response:
    async with web_context(request).api.engine.connect() as conn:
        boxes = await mailboxes.list_for_user(conn, user.id)
    return await render(request, "mailboxes.html", {"title": "Mailboxes", "boxes": boxes})
