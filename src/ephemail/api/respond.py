"""The one place that writes JSON answers and the error envelope, on every path.

`{"status": false, "message": …}` (with `errors` on a 422, `request_id` on a 500) is sent
from four levels: FastAPI's handlers, raw ASGI (the hot path and the auth and quota gate,
which answer before FastAPI runs), and uvicorn's protocol (requests too broken to reach
ASGI). Each level keeps its own header order, which clients may see, so each has its own
sender here; all of them take their bodies from `envelope`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Send

STATUS_MESSAGES = {
    400: "The request is malformed.",
    401: "Unauthenticated.",
    403: "This action is not allowed by your plan.",
    404: "Not found.",
    405: "Method not allowed.",
    408: "The request was not received in time.",
    409: "The address is already in use.",
    413: "The request is too large.",
    415: "Unsupported media type.",
    422: "The given data was invalid.",
    429: "Monthly quota exceeded.",
    431: "The request line and headers are too large.",
    500: "Internal server error.",
    503: "The service is temporarily unavailable; try again shortly.",
}
"""The message for a code when nothing more precise is known."""

_JSON = (b"content-type", b"application/json")
Headers = Sequence[tuple[bytes, bytes]]


def envelope(
    message: str, errors: dict[str, list[str]] | None = None, request_id: str | None = None
) -> bytes:
    """The error body; `errors` only when there are some, `request_id` only when given."""
    body: dict[str, Any] = {"status": False, "message": message}
    if errors:
        body["errors"] = errors
    if request_id is not None:
        body["request_id"] = request_id
    return orjson.dumps(body)


def new_request_id() -> str:
    return secrets.token_hex(8)


def internal_error_body(request_id: str) -> bytes:
    """A 500's body: the id its fault was logged under, and nothing else about it."""
    return envelope(STATUS_MESSAGES[500], request_id=request_id)


# FastAPI: starlette Responses (extra headers first, then content-length and content-type).


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """`body` as JSON; bytes are taken as JSON already made."""
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(payload, status_code, headers, media_type="application/json")


def error_response(
    status_code: int,
    message: str,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return json_response(envelope(message, errors), status_code, headers)


def internal_error_response(request_id: str) -> Response:
    return json_response(internal_error_body(request_id), 500, {"X-Request-ID": request_id})


# Raw ASGI: Starlette's order (content-length, content-type), then the extra headers, so the
# hot path's answers are byte for byte the routes' answers.


async def send_json(send: Send, status: int, body: bytes, headers: Headers = ()) -> None:
    """A whole JSON answer in two ASGI messages."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), _JSON, *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


# uvicorn's protocol: a complete HTTP/1.1 response, written to the socket before closing it.


def closing_error(status: int) -> bytes:
    """A `Connection: close` response carrying the envelope with the code's message."""
    body = envelope(STATUS_MESSAGES[status])
    return b"".join(
        [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode(),
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )
