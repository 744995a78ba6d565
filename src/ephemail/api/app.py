"""The FastAPI application: routes under /api, the error envelope, auth and quota."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPBearer
from starlette.responses import Response

from ephemail import __version__
from ephemail.api.context import ApiContext
from ephemail.api.errors import install_error_handlers, internal_error_body, new_request_id
from ephemail.api.ratelimit import QuotaMiddleware
from ephemail.api.routes import domains, emails, messages, token

log = logging.getLogger("ephemail.api")
bearer = HTTPBearer(description="Your personal API key", auto_error=False)


def create_api(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="ephemail User API",
        version=__version__,
        description=(
            "Temp Mail compatible User API. Every /api route but the token routes needs "
            "`Authorization: Bearer <key>`, and every 2xx counts against the monthly quota "
            "(`X-RateLimit-*` headers)."
        ),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.ctx = ctx
    install_error_handlers(app)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        request_id = new_request_id()
        log.error("unhandled error, request_id=%s", request_id, exc_info=exc)
        return Response(
            internal_error_body(request_id),
            500,
            media_type="application/json",
            headers={"X-Request-ID": request_id},
        )

    keyed = [Depends(bearer)]  # documents the scheme in OpenAPI; the middleware enforces it
    app.include_router(domains.router, prefix="/api", tags=["domains"], dependencies=keyed)
    app.include_router(emails.router, prefix="/api", tags=["emails"], dependencies=keyed)
    app.include_router(messages.router, prefix="/api", tags=["messages"], dependencies=keyed)
    app.include_router(token.router, prefix="/api")
    app.add_middleware(QuotaMiddleware, auth=ctx.auth, quota=ctx.quota)
    return app
