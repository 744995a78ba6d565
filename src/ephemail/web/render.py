"""Templates and the answers pages give: a rendered page, a redirect, a flash message.

Every page is rendered by `render`, which passes the templates what `base.html` needs: the
signed-in account (`user`), the CSRF token (`csrf_token`), the flash messages (`flashes`)
and the site's base URL (`base_url`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ephemail import __version__
from ephemail.core.periods import zone
from ephemail.store.models import User
from ephemail.web.security import sign
from ephemail.web.sessions import (
    SignedIn,
    form_token,
    optional_user,
    set_pre_cookie,
    web_context,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"
FLASH_COOKIE = "ephemail_flash"
FLASH_KINDS = ("ok", "error", "info")

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def local_time(epoch: int | float | None, zone_name: str = "UTC") -> str:
    """`2026-12-02 14:05 CET`: a time in the account's zone, as pages show it."""
    if epoch is None:
        return "never"
    moment = datetime.fromtimestamp(epoch, UTC).astimezone(zone(zone_name))
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def duration(seconds: int) -> str:
    """`10 minutes`, `1 hour 30 minutes`, `2 days`: a plan's lifetime, for people."""
    parts = []
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"


def static_url(path: str) -> str:
    """A static asset's URL; the version in the query makes a new release skip old caches."""
    return f"/static/{path}?v={__version__}"


templates.env.filters["local_time"] = local_time
templates.env.filters["duration"] = duration
templates.env.globals["static_url"] = static_url


def flash(request: Request, response: Response, text: str, kind: str = "ok") -> None:
    """A message shown once, on the next page (a signed cookie: no session needed)."""
    payload = base64.urlsafe_b64encode(json.dumps([kind, text]).encode()).decode()
    signature = sign(web_context(request).secret, payload)
    response.set_cookie(
        FLASH_COOKIE,
        f"{payload}.{signature}",
        max_age=120,
        path="/",
        httponly=True,
        samesite="lax",
        secure=web_context(request).secure_cookies,
    )


def _read_flash(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, signature = raw.partition(".")
    if not payload or len(raw) > 4096 or sign(web_context(request).secret, payload) != signature:
        return []
    try:
        kind, text = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return []
    return [(kind if kind in FLASH_KINDS else "info", str(text))]


def redirect(request: Request, path: str, message: str | None = None, kind: str = "ok") -> Response:
    """303 to a page of the site (POST → redirect → GET), with an optional flash message."""
    response = RedirectResponse(path, status_code=303)
    if message:
        flash(request, response, message, kind)
    return response


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    """A page. `error` is shown in the message area (a form that was refused)."""
    user = await optional_user(request)
    flashes = _read_flash(request)
    if error:
        flashes.append(("error", error))
    values: dict[str, Any] = {
        "user": user,
        "csrf_token": form_token(request),
        "flashes": flashes,
        "base_url": web_context(request).public_url,
        "zone": user.timezone if user else "UTC",
        "signup_enabled": web_context(request).signup_enabled,
    }
    values.update(context or {})
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    set_pre_cookie(request, response)
    return response


PageContext = Callable[[Request, User], Awaitable[dict[str, Any]]]


def page_view(template: str, context: PageContext) -> Callable[..., Awaitable[HTMLResponse]]:
    """The GET of a signed-in page that only shows `context`'s values in `template`."""

    async def view(request: Request, user: SignedIn) -> HTMLResponse:
        return await render(request, template, await context(request, user))

    return view
