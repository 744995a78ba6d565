"""API management: the account's keys, its quota as the API counts it, its plan, snippets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ephemail.core.periods import current_period
from ephemail.events import Event
from ephemail.events.model import KEY_REVOKED
from ephemail.store import accounts
from ephemail.store.domains import allowed_types, domains_for_user
from ephemail.store.errors import NotFound
from ephemail.store.models import User
from ephemail.web.render import page_view, redirect, render
from ephemail.web.sessions import SignedIn, web_context
from ephemail.web.snippets import snippets

router = APIRouter()
MAX_ACTIVE_KEYS = 20


async def quota_of(request: Request, user: User) -> dict[str, Any]:
    """The numbers the `X-RateLimit-*` headers give now, from the API's own quota backend."""
    period = current_period(user.timezone)
    limit = user.plan.monthly_quota
    used = max(0, min(await web_context(request).api.quota.used(user.id, period.key), limit))
    percent = 100 * used / limit if limit else 100
    return {
        "limit": limit,
        "used": used,
        "remaining": limit - used,
        "reset_iso": period.reset_iso,
        "reset_epoch": period.reset_epoch,
        "percent": percent,
        "level": "full" if used >= limit else ("high" if percent >= 80 else ""),
    }


async def _page(request: Request, user: User, new_key: str | None = None) -> dict[str, Any]:
    ctx = web_context(request)
    async with ctx.api.engine.connect() as conn:
        keys = await accounts.list_keys(conn, user.email)
        domains = await domains_for_user(conn, user, allowed_types(user))
    api_url = ctx.public_url + "/api"
    return {
        "title": "API management",
        "keys": list(reversed(keys)),
        "active_keys": sum(1 for k in keys if k.revoked_at is None),
        "quota": await quota_of(request, user),
        "plan": user.plan,
        "domain_types": allowed_types(user),
        "domains": domains,
        "api_url": api_url,
        "snippets": snippets(api_url),
        "new_key": new_key,
    }


router.get("/account/api")(page_view("api.html", _page))


@router.post("/account/api/keys")
async def create_key(request: Request, user: SignedIn) -> Response:
    """The new key is in this answer only (never stored in clear, never in a redirect)."""
    ctx = web_context(request)
    async with ctx.api.engine.begin() as conn:
        keys = await accounts.list_keys(conn, user.email)
        if sum(1 for k in keys if k.revoked_at is None) >= MAX_ACTIVE_KEYS:
            page = await _page(request, user)
            message = f"You have {MAX_ACTIVE_KEYS} active keys; revoke one before creating another."
            return await render(request, "api.html", page, status_code=409, error=message)
        _, key = await accounts.create_key(conn, user.email)
    return await render(request, "api.html", await _page(request, user, new_key=key))


@router.post("/account/api/keys/{key_id}/revoke")
async def revoke_key(key_id: int, request: Request, user: SignedIn) -> Response:
    ctx = web_context(request)
    try:
        async with ctx.api.engine.begin() as conn:
            key_hash = await accounts.revoke_key(conn, key_id, owner_id=user.id)
    except NotFound as exc:
        raise HTTPException(404) from exc
    # Every process drops the key from its cache and ends the streams it opened, as the
    # CLI's `key revoke` makes them do.
    ctx.api.events.publish_soon([Event(KEY_REVOKED, 0, {"key": key_hash})])
    return redirect(request, "/account/api", "The key has been revoked.")
