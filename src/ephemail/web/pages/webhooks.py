"""The account's webhooks: list, register (the secret shown once), delete, send a test
event, and each hook's latest deliveries.

The rules and refusals are the API's own (`api/webhook_actions.py`: the receiver guard, the
mailbox's owner, the per-account bound), so the page shows the API's words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ephemail.api import webhook_actions as actions
from ephemail.api.context import ApiContext
from ephemail.api.errors import ApiError
from ephemail.store import mailboxes
from ephemail.store import webhooks as store
from ephemail.store.models import User
from ephemail.web.render import page_view, redirect, render
from ephemail.web.sessions import SignedIn, web_context
from ephemail.webhooks import EVENT_TYPES

router = APIRouter()
PAGE = "/account/webhooks"
SHOWN_DELIVERIES = 20


def refusal(exc: ApiError) -> str:
    """The API's message, with the field errors of a 422 (what the API's JSON lists)."""
    details = [f"{field}: {text}" for field, texts in (exc.errors or {}).items() for text in texts]
    return " ".join([exc.message, *details]) if details else exc.message


async def _page(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    ctx = web_context(request)
    async with ctx.api.engine.connect() as conn:
        hooks = await store.list_for_user(conn, user.id)
        boxes = await mailboxes.list_for_user(conn, user.id)
        rows = [
            {"hook": hook, "deliveries": await store.deliveries(conn, hook.id, SHOWN_DELIVERIES)}
            for hook in reversed(hooks)
        ]
    return {
        "title": "Webhooks",
        "rows": rows,
        "boxes": boxes,
        "event_types": EVENT_TYPES,
        "form": {"url": "", "email": "", "events": list(EVENT_TYPES)},
        "new_hook": None,
        **extra,
    }


router.get(PAGE)(page_view("webhooks.html", _page))


@router.post(PAGE)
async def create_webhook(request: Request, user: SignedIn) -> Response:
    """The secret is in this answer only (as in the API's), never in a redirect."""
    form = await request.form()
    url = str(form.get("url") or "").strip()
    email = str(form.get("email") or "").strip() or None
    # None checked: every type, as the API does without `events`.
    events = [e for e in form.getlist("events") if isinstance(e, str) and e in EVENT_TYPES]
    entered = {"url": url, "email": email or "", "events": events}
    try:
        hook = await actions.register(web_context(request).api, user.id, url, email, events)
    except ApiError as exc:
        page = await _page(request, user, form=entered)
        return await render(
            request, "webhooks.html", page, status_code=exc.status_code, error=refusal(exc)
        )
    return await render(request, "webhooks.html", await _page(request, user, new_hook=hook))


Action = Callable[[ApiContext, int, str], Awaitable[None]]


async def _act(request: Request, user: User, act: Action, hook_id: str, done: str) -> Response:
    """An action on one of the user's hooks; anyone else's (or a dead one) is a 404 page."""
    try:
        await act(web_context(request).api, user.id, hook_id)
    except ApiError as exc:
        raise HTTPException(exc.status_code) from exc
    return redirect(request, PAGE, done)


@router.post(PAGE + "/{hook_id}/delete")
async def delete_webhook(hook_id: str, request: Request, user: SignedIn) -> Response:
    return await _act(request, user, actions.remove, hook_id, "The webhook has been deleted.")


@router.post(PAGE + "/{hook_id}/test")
async def test_webhook(hook_id: str, request: Request, user: SignedIn) -> Response:
    queued = "A test event was queued; its delivery shows below."
    return await _act(request, user, actions.send_test, hook_id, queued)
