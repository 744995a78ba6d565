"""The error envelope for every failure, FastAPI's own included. No traces, SQL or paths."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("ephemail.api")

STATUS_MESSAGES = {
    400: "The request is malformed.",
    401: "Unauthenticated.",
    403: "This action is not allowed by your plan.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "The address is already in use.",
    413: "The request is too large.",
    415: "Unsupported media type.",
    422: "The given data was invalid.",
    429: "Monthly quota exceeded.",
    500: "Internal server error.",
}


class ApiError(Exception):
    """Raised by routes: becomes `{"status": false, "message": …}` with its code."""

    def __init__(self, status_code: int, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.errors = errors


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


def error_response(
    status_code: int,
    message: str,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"status": False, "message": message}
    if errors:
        body["errors"] = errors
    return json_response(body, status_code, headers)


def new_request_id() -> str:
    return secrets.token_hex(8)


def internal_error_body(request_id: str) -> bytes:
    return orjson.dumps(
        {"status": False, "message": "Internal server error.", "request_id": request_id}
    )


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
        return error_response(exc.status_code, exc.message, exc.errors)

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
        return error_response(422, "The given data was invalid.", _field_errors(exc))
