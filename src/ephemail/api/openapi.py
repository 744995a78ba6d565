"""The OpenAPI document, made to describe exactly what the service sends.

FastAPI's generator knows neither the gate (bearer key, `X-RateLimit-*`,
`Retry-After`) nor our error envelope: it advertised its own `HTTPValidationError` body,
which we never send. This fills in the one and strips the other; the API fuzz tests check
every response, headers included, against the result.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_COUNT = {"type": "integer", "minimum": 0}
RATE_HEADERS: dict[str, dict[str, Any]] = {
    "X-RateLimit-Limit": {"description": "Requests the plan allows per month", "schema": _COUNT},
    "X-RateLimit-Used": {"description": "2xx responses counted this month", "schema": _COUNT},
    "X-RateLimit-Remaining": {"description": "Limit minus Used", "schema": _COUNT},
    "X-RateLimit-Reset": {
        "description": "First instant of the next month in the account's time zone",
        "schema": {"type": "string", "format": "date-time"},
    },
}
RETRY_AFTER = {"description": "Seconds until the quota resets", "schema": {"type": "integer"}}
RETRY_SOON = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
UNAVAILABLE = {
    "description": "Temporarily unavailable: the database or Redis cannot be reached (or, "
    "for an event stream, this server holds all the streams it can); retry after a moment",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}
REQUEST_ID = {"description": "The id the fault was logged under", "schema": {"type": "string"}}
WWW_AUTHENTICATE = {"description": "Always `Bearer`", "schema": {"type": "string"}}
_FASTAPI_ONLY = ("HTTPValidationError", "ValidationError")


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Your personal API key"}
    }
    for path, operations in schema["paths"].items():
        keyed = not path.startswith("/api/token/")
        for operation in operations.values():
            if keyed:
                # The gate (api/gate.py) checks the key: a FastAPI security dependency would
                # only repeat that work on every request.
                operation["security"] = [{"bearer": []}]
            # Every route reads a store, and any store may be away for a moment.
            operation["responses"].setdefault("503", {**UNAVAILABLE})
            _document_responses(operation["responses"], keyed)
    schemas = schema["components"].get("schemas", {})
    for name in _FASTAPI_ONLY:
        schemas.pop(name, None)
    app.openapi_schema = schema
    return schema


def _document_responses(responses: dict[str, Any], keyed: bool) -> None:
    """Drop FastAPI's own 422 body; add the headers each answer really carries."""
    unprocessable = responses.get("422", {})
    ref = str(unprocessable.get("content", {}).get("application/json", {}).get("schema", {}))
    if "HTTPValidationError" in ref:
        del responses["422"]  # a route that can answer 422 declares it with the envelope
    for code, response in responses.items():
        headers: dict[str, Any] = response.setdefault("headers", {})
        if code == "401":
            headers["WWW-Authenticate"] = {**WWW_AUTHENTICATE, "required": True}
            continue
        if code == "500":
            headers["X-Request-ID"] = {**REQUEST_ID, "required": False}
        # A fault before the key was checked (the database unreachable) has no counters, and
        # neither has a token that opens no mailbox: it names no account to count against.
        required = keyed and code not in ("500", "503")
        for name, header in RATE_HEADERS.items():
            headers[name] = {**header, "required": required}
        if code == "429":
            headers["Retry-After"] = {**RETRY_AFTER, "required": True}
        if code == "503":
            headers["Retry-After"] = {**RETRY_SOON, "required": True}
        if not headers:
            del response["headers"]
