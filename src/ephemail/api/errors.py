"""What routes raise (ApiError) and how FastAPI's own failures join it in the envelope.

respond.py writes the envelope; this module decides which code and message a failure gets,
and never lets a trace, SQL or a path into it."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from ephemail.api.respond import (
    STATUS_MESSAGES,
    envelope,
    error_response,
    internal_error_response,
    json_response,
    new_request_id,
)
from ephemail.core.addresses import AddressError, normalise_address

log = logging.getLogger("ephemail.api")


class ApiError(Exception):
    """Raised by routes: becomes `{"status": false, "message": …}` with its code."""

    def __init__(self, status_code: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.errors = errors

    def body(self) -> bytes:
        return envelope(self.message, self.errors)


def invalid(errors: dict[str, list[str]]) -> ApiError:
    """The contract's 422: the fields at fault, each with what is wrong with it."""
    return ApiError(422, STATUS_MESSAGES[422], errors)


def valid_address(value: str, field: str) -> str:
    """The address normalised, or a 422 that names `field`."""
    try:
        return normalise_address(value)
    except AddressError as exc:
        raise invalid({field: [str(exc)]}) from exc


def allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, read off its own OpenAPI document.

    The router only names the methods of the first route that matched the path, one route
    per method here, so `PUT /api/messages/{id}` used to say `Allow: GET` alone.
    """
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        request.app.state, "allowed_methods", None
    )
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                {method.upper() for method in operations},
            )
            for path, operations in request.app.openapi()["paths"].items()
        ]
        request.app.state.allowed_methods = table
    path = request.url.path
    return sorted(set().union(*(methods for pattern, methods in table if pattern.match(path))))


def _field_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for item in exc.errors():
        loc = [str(p) for p in item.get("loc", ()) if p not in ("query", "path", "body", "header")]
        field = ".".join(loc) or "request"
        message = str(item.get("msg", "is invalid"))
        if item.get("type") == "missing":
            message = f"The {field} field is required."
        errors.setdefault(field, []).append(message)
    return errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return json_response(exc.body(), exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = STATUS_MESSAGES.get(exc.status_code, "The request failed.")
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, message, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        if any(item.get("type") == "json_invalid" for item in exc.errors()):
            return error_response(400, "The request body is not valid JSON.")
        return error_response(422, STATUS_MESSAGES[422], _field_errors(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        if isinstance(exc, ClientDisconnect):
            raise exc  # no fault of ours and nobody to answer: the gate gives the unit back
        request_id = new_request_id()
        log.error("unhandled error, request_id=%s", request_id, exc_info=exc)
        return internal_error_response(request_id)
