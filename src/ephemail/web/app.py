"""The website's application: pages, static assets, error pages, headers and CSRF.

Mounted beside the API by `mount.site_app`: every path outside `/api` comes here, so none of
the API's key check, quota or usage counting runs for a page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from ephemail.web.context import WebContext
from ephemail.web.pages import account, admin, home, inbox, keys, mailboxes, webhooks
from ephemail.web.reader import Gone
from ephemail.web.render import render
from ephemail.web.security import SecurityHeaders
from ephemail.web.sessions import CsrfRefused, SignInRequired, sign_in_url, verify_csrf

STATIC_DIR = Path(__file__).parent / "static"
ERROR_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    413: "Too large",
    500: "Something went wrong",
}


class _Static(StaticFiles):
    """Assets change only with a release (their URLs carry the version): cache them."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "public, max-age=86400"
        return response


def create_web(ctx: WebContext) -> FastAPI:
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(verify_csrf)],
    )
    app.state.web = ctx
    app.mount("/static", _Static(directory=STATIC_DIR), name="static")
    for module in (home, account, keys, webhooks, mailboxes, inbox, admin):
        app.include_router(module.router)
    _install_error_pages(app)
    app.add_middleware(SecurityHeaders)
    return app


def _install_error_pages(app: FastAPI) -> None:
    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(sign_in_url(exc.next_path), status_code=303)

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return await error_page(
            request, 403, "The form had expired. Go back, reload the page and try again."
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else None
        return await error_page(request, exc.status_code, detail)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        return await error_page(request, 404, None)  # a path parameter of the wrong shape

    async def unexpected(request: Request, exc: Exception) -> Response:
        return await error_page(request, 500, None)

    app.add_exception_handler(SignInRequired, sign_in_needed)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(Gone, inbox.gone_page)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(500, unexpected)


async def error_page(request: Request, status: int, detail: str | None) -> Response:
    title = ERROR_TITLES.get(status, "Error")
    messages = {
        404: "There is nothing here, or it is not yours, or it has expired.",
        500: "An unexpected error happened. Please try again.",
    }
    text = detail or messages.get(status, title)
    return await render(
        request, "error.html", {"title": title, "text": text, "status": status}, status_code=status
    )
