"""Sign up, sign in, sign out, the account page and changing the password.

Sign-in answers the same for an unknown address, a wrong password and an account without a
password, after the same work (one argon2 verification, against a dummy hash when there is
no account), so neither the message nor the time tells whether an address has an account.
"""

from __future__ import annotations

import asyncio
import functools
import zoneinfo

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from ephemail.core.periods import is_valid_zone
from ephemail.store import accounts, web_sessions
from ephemail.store.errors import Conflict, Invalid, NotFound
from ephemail.store.models import User
from ephemail.web.forms import client_address, fields
from ephemail.web.render import redirect, render
from ephemail.web.sessions import (
    SignedIn,
    end_session,
    optional_user,
    safe_next,
    start_session,
    web_context,
)

router = APIRouter()

WRONG = "The email address or password is not correct."
THROTTLED = "Too many failed sign-ins. Wait {minutes} minute{s} and try again."
SIGNUP_OFF = "Sign-up is turned off on this service. Ask its operator for an account."
TAKEN = "This address cannot be used to sign up. If you already have an account, sign in."


@functools.cache
def time_zones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")


def _throttled(minutes: int) -> str:
    return THROTTLED.format(minutes=minutes, s="" if minutes == 1 else "s")


@router.get("/signin")
async def signin_page(
    request: Request, next: str = "", user: User | None = Depends(optional_user)
) -> Response:
    if user is not None:
        return redirect(request, safe_next(next))
    return await render(request, "signin.html", {"title": "Sign in", "next": safe_next(next)})


@router.post("/signin")
async def signin(request: Request) -> Response:
    ctx = web_context(request)
    form = await fields(request, "email", "next")
    password = (await fields(request, "password", strip=False))["password"]
    email, nxt = form["email"].lower(), safe_next(form["next"])
    page = {"title": "Sign in", "next": nxt, "email": email}

    async def refuse(message: str, status: int = 400) -> Response:
        return await render(request, "signin.html", page, status_code=status, error=message)

    if not email:
        return await refuse("Enter your email address.")
    if not password:
        return await refuse("Enter your password.")
    client = client_address(request)
    wait = ctx.throttle.wait_minutes(email, client)
    if wait:
        return await refuse(_throttled(wait), 429)
    async with ctx.api.engine.connect() as conn:
        found = await accounts.password_hash_of(conn, email)
    stored = found[1] if found else None
    if len(password) > accounts.MAX_PASSWORD_CHARS:
        stored = None  # still pay for one verification: the time says nothing
        password = password[: accounts.MAX_PASSWORD_CHARS]
    ok = await asyncio.to_thread(accounts.verify_password, stored, password)
    if not ok or found is None:
        ctx.throttle.failed(email, client)
        return await refuse(WRONG)
    ctx.throttle.succeeded(email)
    if found[2]:
        return await refuse("This account is disabled. Ask the service's operator.", 403)
    response = redirect(request, nxt)
    await start_session(request, response, found[0])
    return response


@router.get("/signup")
async def signup_page(request: Request, user: User | None = Depends(optional_user)) -> Response:
    if user is not None:
        return redirect(request, "/mailboxes")
    ctx = web_context(request)
    page = {"title": "Create an account", "zones": time_zones(), "timezone": "UTC"}
    if not ctx.signup_enabled:
        return await render(request, "signup.html", page, status_code=403, error=SIGNUP_OFF)
    return await render(request, "signup.html", page)


@router.post("/signup")
async def signup(request: Request) -> Response:
    ctx = web_context(request)
    form = await fields(request, "email", "timezone")
    password = (await fields(request, "password", strip=False))["password"]
    email, zone = form["email"].lower(), form["timezone"] or "UTC"
    page = {"title": "Create an account", "zones": time_zones(), "email": email, "timezone": zone}

    async def refuse(message: str, status: int = 400) -> Response:
        return await render(request, "signup.html", page, status_code=status, error=message)

    if not ctx.signup_enabled:
        return await refuse(SIGNUP_OFF, 403)
    if not email:
        return await refuse("Enter your email address.")
    if email.count("@") != 1 or len(email) > 254 or any(c.isspace() for c in email):
        return await refuse("Enter a valid email address, like name@example.org.")
    if not password:
        return await refuse("Choose a password.")
    try:
        accounts.check_password_rules(password)
    except Invalid as exc:
        return await refuse(str(exc))
    if not is_valid_zone(zone):
        return await refuse("Choose a time zone from the list.")
    client = client_address(request)
    wait = ctx.signups.wait_minutes("", client)
    if wait:
        return await refuse(f"Too many sign-ups from your network. Wait {wait} minutes.", 429)
    ctx.signups.failed("", client)  # every sign-up counts against the client's allowance
    password_hash = await asyncio.to_thread(accounts.hash_password, password)
    try:
        async with ctx.api.engine.begin() as conn:
            user = await accounts.create_user(
                conn, email, plan_name=ctx.signup_plan, timezone=zone, password_hash=password_hash
            )
    except Conflict:
        return await refuse(TAKEN, 409)
    except (Invalid, NotFound) as exc:
        return await refuse(str(exc))
    response = redirect(request, "/account/api", "Your account is ready. Welcome!")
    await start_session(request, response, user.id)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    response = redirect(request, "/", "You are signed out.", "info")
    await end_session(request, response)
    return response


@router.get("/account")
async def account_page(request: Request, user: SignedIn) -> Response:
    async with web_context(request).api.engine.connect() as conn:
        sessions = await web_sessions.count_user_sessions(conn, user.id)
    return await render(request, "account.html", {"title": "Account", "sessions": sessions})


@router.post("/account/password")
async def change_password(request: Request, user: SignedIn) -> Response:
    """Every session of the account ends, this one included; this browser gets a new one."""
    ctx = web_context(request)
    form = await fields(request, "current", "new", strip=False)

    async def refuse(message: str, status: int = 400) -> Response:
        async with ctx.api.engine.connect() as conn:
            sessions = await web_sessions.count_user_sessions(conn, user.id)
        page = {"title": "Account", "sessions": sessions}
        return await render(request, "account.html", page, status_code=status, error=message)

    if not form["current"]:
        return await refuse("Enter your current password.")
    if not form["new"]:
        return await refuse("Enter a new password.")
    try:
        accounts.check_password_rules(form["new"])
    except Invalid as exc:
        return await refuse(str(exc))
    client = client_address(request)
    wait = ctx.throttle.wait_minutes(user.email, client)
    if wait:
        return await refuse(_throttled(wait), 429)
    async with ctx.api.engine.connect() as conn:
        found = await accounts.password_hash_of(conn, user.email)
    stored = found[1] if found else None
    current = form["current"][: accounts.MAX_PASSWORD_CHARS]
    if not await asyncio.to_thread(accounts.verify_password, stored, current):
        ctx.throttle.failed(user.email, client)
        return await refuse("The current password is not correct.")
    new_hash = await asyncio.to_thread(accounts.hash_password, form["new"])
    async with ctx.api.engine.begin() as conn:
        await accounts.set_password_hash(conn, user.id, new_hash)
    response = redirect(
        request, "/account", "Password changed. Every other session has been signed out."
    )
    await start_session(request, response, user.id)
    return response
