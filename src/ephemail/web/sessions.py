"""Who is signed in: the session cookie, the dependencies pages use, sign-in and sign-out.

Pages take the account with `Depends(current_user)` (redirects to the sign-in page when
nobody is signed in), `Depends(optional_user)` or `Depends(admin_user)` (a 403 page for
anyone but an operator). The account is loaded once per request.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ephemail.store import web_sessions
from ephemail.store.models import User
from ephemail.web.context import WebContext
from ephemail.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    csrf_token,
    tokens_match,
)

SESSION_COOKIE = "ephemail_session"
PRE_COOKIE = "ephemail_pre"  # identifies a visitor who is not signed in, for CSRF tokens
_UNSET = object()


class SignInRequired(Exception):
    """Raised by `current_user`; the app answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfRefused(Exception):
    """An unsafe request without the visitor's CSRF token; answered with a 403 page."""


def web_context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


async def optional_user(request: Request) -> User | None:
    """The signed-in account, or None."""
    cached = getattr(request.state, "web_user", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    user = None
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        async with web_context(request).api.engine.connect() as conn:
            user = await web_sessions.session_user(conn, session_id)
    request.state.web_user = user
    return user


async def current_user(request: Request) -> User:
    user = await optional_user(request)
    if user is None:
        raise SignInRequired(_local_path(request))
    return user


SignedIn = Annotated[User, Depends(current_user)]
"""A page's signed-in account; anyone else is sent to the sign-in page."""


async def admin_user(request: Request) -> User:
    user = await current_user(request)
    if not user.is_admin:
        raise HTTPException(403, "This page is for the service's operators.")
    return user


def _local_path(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


def sign_in_url(next_path: str) -> str:
    return "/signin?next=" + quote(next_path, safe="/")


def safe_next(value: str | None, default: str = "/mailboxes") -> str:
    """Only a path of this site: never `//evil.example` or `https://…`."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


# --- CSRF -----------------------------------------------------------------------------------


def _identity(request: Request) -> tuple[str, str] | None:
    """(kind, cookie value) the visitor's CSRF token derives from."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        return "session", session_id
    pre = getattr(request.state, "new_pre_cookie", None) or request.cookies.get(PRE_COOKIE)
    return ("pre", pre) if pre else None


def form_token(request: Request) -> str:
    """The token to put in this visitor's forms; a first visit gets a pre-session cookie,
    set on the answer by `render`."""
    found = _identity(request)
    if found is None:
        request.state.new_pre_cookie = secrets.token_urlsafe(32)
        found = ("pre", request.state.new_pre_cookie)
    return csrf_token(web_context(request).secret, *found)


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: every unsafe method must carry the visitor's token."""
    if request.method in SAFE_METHODS:
        return
    found = _identity(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if found is None or not tokens_match(csrf_token(web_context(request).secret, *found), given):
        raise CsrfRefused()


# --- signing in and out ---------------------------------------------------------------------


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=web_context(request).secure_cookies,
    )


async def start_session(request: Request, response: Response, user_id: int) -> None:
    """A new session id at every sign-in (a planted one is never promoted): the old session,
    if any, is deleted, and the pre-session cookie goes."""
    ctx = web_context(request)
    old = request.cookies.get(SESSION_COOKIE)
    async with ctx.api.engine.begin() as conn:
        if old:
            await web_sessions.delete_session(conn, old)
        session_id = await web_sessions.create_session(conn, user_id, ctx.session_seconds)
    _set_cookie(request, response, SESSION_COOKIE, session_id, ctx.session_seconds)
    response.delete_cookie(PRE_COOKIE, path="/")


async def end_session(request: Request, response: Response) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        async with web_context(request).api.engine.begin() as conn:
            await web_sessions.delete_session(conn, session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")


def set_pre_cookie(request: Request, response: Response) -> None:
    value = getattr(request.state, "new_pre_cookie", None)
    if value:
        _set_cookie(request, response, PRE_COOKIE, value, 86400)
