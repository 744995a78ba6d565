"""The signed-in account's mailboxes: list, create, rename, delete.

The rules are the store's, as the API routes call them (ownership, the plan's domains,
lifetime and limit, expiry), and a refusal shows the message the API gives. Each change
publishes the event the API publishes, so open inboxes and token pages see it live.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ephemail.api.reading import MAILBOX_NOT_FOUND
from ephemail.core.addresses import AddressError, validate_username
from ephemail.events import Event
from ephemail.events.model import MAILBOX_CREATED, MAILBOX_DELETED, MAILBOX_RENAMED
from ephemail.store import mailboxes
from ephemail.store.domains import allowed_types, domains_for_user
from ephemail.store.errors import NotFound, StoreError
from ephemail.store.models import User
from ephemail.web.forms import fields
from ephemail.web.render import page_view, redirect, render
from ephemail.web.sessions import SignedIn, web_context

router = APIRouter()


async def _page(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    ctx = web_context(request)
    async with ctx.api.engine.connect() as conn:
        boxes = await mailboxes.list_for_user(conn, user.id)
        domains = await domains_for_user(conn, user, allowed_types(user))
    rows = [{"box": box, "token": ctx.api.tokens.seal(box.id, box.life_secret)} for box in boxes]
    return {
        "title": "Mailboxes",
        "rows": rows,
        "domains": domains,
        "plan": user.plan,
        "form": {"username": "", "domain": ""},
        **extra,
    }


async def _refused(
    request: Request, user: User, message: str, status: int, **extra: Any
) -> Response:
    page = await _page(request, user, **extra)
    return await render(request, "mailboxes.html", page, status_code=status, error=message)


def _username_problem(value: str) -> str | None:
    try:
        validate_username(value)
    except AddressError as exc:
        return str(exc)
    return None


_STATUS = {"NotFound": 404, "Forbidden": 403, "Conflict": 409, "Invalid": 422}


def _status(exc: StoreError) -> int:
    """The code the API answers for the same refusal."""
    return _STATUS.get(type(exc).__name__, 400)


router.get("/mailboxes")(page_view("mailboxes.html", _page))


@router.post("/mailboxes")
async def create(request: Request, user: SignedIn) -> Response:
    ctx = web_context(request)
    form = await fields(request, "username", "domain")
    username, domain = form["username"] or None, form["domain"] or None
    if username is not None and (problem := _username_problem(username)):
        return await _refused(request, user, problem, 422, form=form)
    try:
        async with ctx.api.engine.begin() as conn:
            box = await mailboxes.create_mailbox(conn, user, domain=domain, username=username)
    except StoreError as exc:
        return await _refused(request, user, str(exc), _status(exc), form=form)
    ctx.api.events.publish_soon([Event(MAILBOX_CREATED, box.id, {"mailbox": box.address})])
    return redirect(request, "/mailboxes", f"Created {box.address}.")


@router.post("/mailboxes/{address}/rename")
async def rename(address: str, request: Request, user: SignedIn) -> Response:
    ctx = web_context(request)
    form = await fields(request, "username", "domain")
    if problem := _username_problem(form["username"]):
        return await _refused(request, user, problem, 422, renaming=address, rename_form=form)
    try:
        async with ctx.api.engine.begin() as conn:
            box = await mailboxes.rename_mailbox(
                conn, user, address, form["username"], form["domain"]
            )
    except NotFound as exc:
        raise HTTPException(404) from exc
    except StoreError as exc:
        status = _status(exc)
        return await _refused(request, user, str(exc), status, renaming=address, rename_form=form)
    renamed = {"mailbox": box.address, "previous": address}
    ctx.api.events.publish_soon([Event(MAILBOX_RENAMED, box.id, renamed)])
    return redirect(request, "/mailboxes", f"Renamed {address} to {box.address}.")


@router.post("/mailboxes/{address}/delete")
async def delete(address: str, request: Request, user: SignedIn) -> Response:
    ctx = web_context(request)
    async with ctx.api.engine.begin() as conn:
        deleted = await mailboxes.delete_mailbox(conn, user.id, address)
    if deleted is None:
        raise HTTPException(404, MAILBOX_NOT_FOUND)
    ctx.api.events.publish_soon([Event(MAILBOX_DELETED, deleted, {"mailbox": address})])
    return redirect(request, "/mailboxes", f"Deleted {address} and its mail.")
