"""The front page and the favicon."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from ephemail.store.models import User
from ephemail.web.render import render
from ephemail.web.sessions import optional_user

router = APIRouter()


@router.get("/")
async def front(request: Request, user: User | None = Depends(optional_user)) -> Response:
    if user is not None:
        return RedirectResponse("/mailboxes", status_code=303)
    return await render(request, "home.html", {"title": "Disposable mail you control"})


@router.get("/favicon.ico")
async def favicon() -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)
