"""The FastAPI application: routes under /api, the error envelope, auth and quota."""

from __future__ import annotations

import functools

from fastapi import FastAPI
from starlette.types import ASGIApp

from ephemail import __version__
from ephemail.api.context import ApiContext
from ephemail.api.docs import install_docs
from ephemail.api.errors import install_error_handlers
from ephemail.api.gate import AuthAndQuotaMiddleware
from ephemail.api.hotpath import HotPathMiddleware
from ephemail.api.openapi import build_openapi
from ephemail.api.ops import OpsMiddleware
from ephemail.api.routes import domains, emails, live, messages, source, token, webhooks
from ephemail.store.usage import UsageMeter


def create_api(
    ctx: ApiContext, usage: UsageMeter | None = None, *, hot_path: bool = True
) -> ASGIApp:
    """The API application; `usage`, when given, counts each /api answer per account.

    The layers of our own wrap FastAPI rather than run inside its middleware stack: the
    busiest GETs, answered by the hot path, then skip FastAPI's error, telemetry and
    body-limit layers (~10 % of a read's CPU). `hot_path=False` leaves every request to the
    routes (the parity tests compare the two)."""
    app = routes_app(ctx)
    inner: ASGIApp = HotPathMiddleware(app, ctx=ctx) if hot_path else app
    gate = AuthAndQuotaMiddleware(
        inner,
        auth=ctx.auth,
        quota=ctx.quota,
        token_owner=functools.partial(token.owner_of, ctx),
    )
    # Outermost: /metrics and /health (no key, no quota), every request counted, HEAD run
    # as a GET through everything inside, and the 500 envelope for a fault outside FastAPI.
    return OpsMiddleware(gate, api=app, token=ctx.metrics_token, health=ctx.health, usage=usage)


def routes_app(ctx: ApiContext) -> FastAPI:
    """FastAPI with the documented routes, the error envelope and the docs page."""
    app = FastAPI(
        title="ephemail User API",
        version=__version__,
        description=(
            "Temp Mail compatible User API. Every /api route but the token routes needs "
            "`Authorization: Bearer <key>`, and every 2xx counts against the monthly quota "
            "(`X-RateLimit-*` headers); a token route's 2xx counts against the quota of the "
            "mailbox's owner."
        ),
        docs_url=None,  # install_docs: the page and its assets, served offline
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # A trailing slash is a path the contract does not have: 404 in the error envelope,
        # not an undocumented 307 that clients would have to follow with their key.
        redirect_slashes=False,
    )
    app.state.ctx = ctx
    install_error_handlers(app)

    app.include_router(domains.router, prefix="/api", tags=["domains"])
    app.include_router(emails.router, prefix="/api", tags=["emails"])
    app.include_router(live.router, prefix="/api")  # before messages: /messages/wait
    app.include_router(messages.router, prefix="/api", tags=["messages"])
    app.include_router(source.router, prefix="/api")
    app.include_router(token.router, prefix="/api")
    app.include_router(webhooks.router, prefix="/api")
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    install_docs(app)
    return app
