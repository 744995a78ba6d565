"""The operator area: users (enable, disable, plan), plans, domains, usage per day.

Open to accounts marked admin only (`ephemail user admin EMAIL`); anyone else gets a 403
page. Changes go through the same store functions as the `ephemail` commands.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ephemail.store import accounts, domains, mailboxes
from ephemail.store.errors import StoreError
from ephemail.store.models import User
from ephemail.store.usage import usage_by_day
from ephemail.web.forms import fields
from ephemail.web.render import redirect, render
from ephemail.web.sessions import admin_user, web_context

router = APIRouter()


async def _users_page(request: Request) -> dict[str, Any]:
    ctx = web_context(request)
    async with ctx.api.engine.connect() as conn:
        users = await accounts.list_users(conn)
        plans = await accounts.list_plans(conn)
        live = await mailboxes.count_all_live(conn)
        domain_count = len(await domains.list_domains(conn))
    stats = {
        "users": len(users),
        "disabled": sum(1 for u in users if u.disabled),
        "mailboxes": live,
        "domains": domain_count,
    }
    return {"title": "Operator · Users", "users": users, "plans": plans, "stats": stats}


async def _target(request: Request, user_id: int) -> User:
    async with web_context(request).api.engine.connect() as conn:
        found = await accounts.get_user_by_id(conn, user_id)
    if found is None:
        raise HTTPException(404)
    return found


def _forget_cached_users(request: Request) -> None:
    """The API's key cache holds users with their plan and state: this process drops them
    now; other processes within the cache's few seconds."""
    web_context(request).api.auth.clear()


@router.get("/admin")
@router.get("/admin/users")
async def users_page(request: Request, me: User = Depends(admin_user)) -> Response:
    return await render(request, "admin_users.html", await _users_page(request))


async def _users_refused(request: Request, status_code: int, error: str) -> Response:
    """The users page again, with why the change was refused."""
    page = await _users_page(request)
    return await render(request, "admin_users.html", page, status_code=status_code, error=error)


async def _set_disabled(request: Request, target: User, disabled: bool, done: str) -> Response:
    """Disable or enable an account; cached copies of it go, so the change holds at once."""
    async with web_context(request).api.engine.begin() as conn:
        await accounts.set_user_disabled(conn, target.email, disabled)
    _forget_cached_users(request)
    return redirect(request, "/admin/users", done)


@router.post("/admin/users/{user_id}/disable")
async def disable(user_id: int, request: Request, me: User = Depends(admin_user)) -> Response:
    target = await _target(request, user_id)
    if target.id == me.id:
        return await _users_refused(request, 409, "You cannot disable your own account.")
    done = f"Disabled {target.email}; its sessions are ended."
    return await _set_disabled(request, target, True, done)


@router.post("/admin/users/{user_id}/enable")
async def enable(user_id: int, request: Request, me: User = Depends(admin_user)) -> Response:
    target = await _target(request, user_id)
    return await _set_disabled(request, target, False, f"Enabled {target.email}.")


@router.post("/admin/users/{user_id}/plan")
async def change_plan(user_id: int, request: Request, me: User = Depends(admin_user)) -> Response:
    target = await _target(request, user_id)
    plan = (await fields(request, "plan"))["plan"]
    try:
        async with web_context(request).api.engine.begin() as conn:
            await accounts.set_user_plan(conn, target.email, plan)
    except StoreError as exc:
        return await _users_refused(request, 422, str(exc))
    _forget_cached_users(request)
    return redirect(request, "/admin/users", f"{target.email} is now on plan {plan}.")


# --- plans ----------------------------------------------------------------------------------


async def _plans_page(request: Request, **extra: Any) -> dict[str, Any]:
    async with web_context(request).api.engine.connect() as conn:
        plans = await accounts.list_plans(conn)
    form = {"name": "", "monthly_quota": "", "mailbox_lifetime": "", "max_mailboxes": ""}
    return {"title": "Operator · Plans", "plans": plans, "form": form, "types": [], **extra}


@router.get("/admin/plans")
async def plans_page(request: Request, me: User = Depends(admin_user)) -> Response:
    return await render(request, "admin_plans.html", await _plans_page(request))


@router.post("/admin/plans")
async def save_plan(request: Request, me: User = Depends(admin_user)) -> Response:
    """Create a plan, or change one in place (its users see the change at once)."""
    form = await fields(request, "name", "monthly_quota", "mailbox_lifetime", "max_mailboxes")
    types = [t for t in accounts.DOMAIN_TYPES if t in (await request.form()).getlist("types")]

    async def refuse(message: str) -> Response:
        page = await _plans_page(request, form=form, types=types)
        return await render(request, "admin_plans.html", page, status_code=422, error=message)

    numbers: dict[str, int] = {}
    labels = {
        "monthly_quota": "monthly quota",
        "mailbox_lifetime": "mailbox lifetime",
        "max_mailboxes": "mailbox limit",
    }
    for name, label in labels.items():
        value = form[name]
        if not (value.isascii() and value.isdigit() and len(value) <= 12):
            return await refuse(f"The {label} must be a whole number.")
        numbers[name] = int(value)
    if not types:
        return await refuse("Choose at least one domain type.")
    try:
        async with web_context(request).api.engine.begin() as conn:
            plan = await accounts.set_plan(conn, form["name"], domain_types=tuple(types), **numbers)
    except StoreError as exc:
        return await refuse(str(exc))
    _forget_cached_users(request)
    return redirect(request, "/admin/plans", f"Saved plan {plan.name}.")


# --- domains --------------------------------------------------------------------------------


async def _domains_page(request: Request, **extra: Any) -> dict[str, Any]:
    async with web_context(request).api.engine.connect() as conn:
        found = await domains.list_domains(conn)
        owners = {u.id: u.email for u in await accounts.list_users(conn)}
    form = {"name": "", "type": "free", "owner": ""}
    return {
        "title": "Operator · Domains",
        "domains": found,
        "owners": owners,
        "types": accounts.DOMAIN_TYPES,
        "form": form,
        **extra,
    }


@router.get("/admin/domains")
async def domains_page(request: Request, me: User = Depends(admin_user)) -> Response:
    return await render(request, "admin_domains.html", await _domains_page(request))


@router.post("/admin/domains")
async def add_domain(request: Request, me: User = Depends(admin_user)) -> Response:
    form = await fields(request, "name", "type", "owner")
    try:
        async with web_context(request).api.engine.begin() as conn:
            added = await domains.add_domain(
                conn, form["name"], type_=form["type"], owner_email=form["owner"] or None
            )
    except StoreError as exc:
        page = await _domains_page(request, form=form)
        return await render(request, "admin_domains.html", page, status_code=422, error=str(exc))
    return redirect(request, "/admin/domains", f"Added {added.name} ({added.type}).")


@router.post("/admin/domains/{name}/remove")
async def remove_domain(name: str, request: Request, me: User = Depends(admin_user)) -> Response:
    try:
        async with web_context(request).api.engine.begin() as conn:
            await domains.remove_domain(conn, name)
    except StoreError as exc:
        raise HTTPException(404) from exc
    return redirect(request, "/admin/domains", f"Removed {name} with its mailboxes.")


# --- usage ----------------------------------------------------------------------------------


@router.get("/admin/usage")
async def usage_page(request: Request, me: User = Depends(admin_user)) -> Response:
    ctx = web_context(request)
    if ctx.usage is not None:
        await ctx.usage.flush()  # this process's latest counts, so the page is current
    days = await usage_by_day(ctx.api.engine)
    totals = {
        "messages": sum(d.messages for d in days),
        "api_requests": sum(d.api_requests for d in days),
        "quota_used": sum(d.quota_used for d in days),
    }
    page = {"title": "Operator · Usage", "days": days, "totals": totals}
    return await render(request, "admin_usage.html", page)
