"""Small helpers the routes share: the context, the reader and the common error responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request

from ephemail.api.context import ApiContext
from ephemail.api.schemas import ErrorBody
from ephemail.store.models import User


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def current_user(request: Request) -> User:
    """Set by the gate (api/gate.py), which has already authenticated the key."""
    user: User = request.state.user
    return user


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error envelope, so every documented code has its schema."""
    descriptions = {
        400: "Malformed request",
        401: "Unauthenticated: key missing, unknown or revoked",
        403: "Not allowed by the plan",
        404: "Not found, expired, or someone else's",
        409: "Address already in use",
        413: "Request body too large",
        422: "Invalid parameter",
        429: "Monthly quota used up",
        500: "Unexpected fault (the body carries a request id)",
        503: "Temporarily unavailable (a store cannot be reached); retry after a moment",
    }
    return {code: {"model": ErrorBody, "description": descriptions[code]} for code in codes}


KEYED_ERRORS = (401, 429, 500)
TOKEN_ERRORS = (429, 500)  # an email token is its own credential: no 401


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def api_route(
    router: APIRouter,
    method: str,
    path: str,
    summary: str,
    *codes: int,
    model: Any = None,
    responses: dict[int | str, dict[str, Any]] | None = None,
    token: bool = False,
    **options: Any,
) -> Callable[[Endpoint], Endpoint]:
    """A documented route: its `summary`, the body it answers (`model`; `responses` for
    examples and other media types) and its error codes: `codes`, then those every keyed
    route can answer or, with `token=True`, those every email-token route can."""
    common = TOKEN_ERRORS if token else KEYED_ERRORS
    return router.api_route(
        path,
        methods=[method],
        response_model=model,
        responses={**(responses or {}), **errors(*codes, *common)},
        summary=summary,
        **options,
    )


def owned_route(
    router: APIRouter, method: str, path: str, model: Any, summary: str
) -> Callable[[Endpoint], Endpoint]:
    """A keyed route on one object the caller must own: someone else's or a missing one is
    the same 404, so every such route documents the same errors."""
    return api_route(router, method, path, summary, 404, model=model)
