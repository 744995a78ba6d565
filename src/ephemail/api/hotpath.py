"""The two busiest reads, served without FastAPI's routing and validation layers.

`GET /api/messages?email=` and `GET /api/messages/{id}` are what test suites poll. Profiles
showed FastAPI's router, dependency solving and exception wrappers costing more than the
database; this ASGI layer (inside the quota middleware, so auth and counting are the same)
answers those two shapes with the very functions the FastAPI routes call. Anything it does
not recognise, a missing `email` included, falls through to FastAPI unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ephemail.api.context import ApiContext
from ephemail.api.errors import ApiError
from ephemail.api.reading import mailbox_listing, message_reading
from ephemail.core.ids import MESSAGE_ID_LENGTH
from ephemail.store.accounts import User

_LIST_PATH = "/api/messages"
_ONE_PREFIX = "/api/messages/"


def _email_param(query_string: bytes) -> str | None:
    """The `email` query value as FastAPI would read it (the last one wins)."""
    value = None
    for key, item in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == "email":
            value = item
    return value


async def _send_json(send: Send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class HotPathMiddleware:
    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            user: User | None = scope.get("state", {}).get("user")
            if user is not None:
                if path == _LIST_PATH:
                    email = _email_param(scope["query_string"])
                    if email is not None:
                        await self._answer(send, mailbox_listing(self.ctx, user.id, email))
                        return
                elif (
                    path.startswith(_ONE_PREFIX)
                    and len(path) == len(_ONE_PREFIX) + MESSAGE_ID_LENGTH
                    and "/" not in path[len(_ONE_PREFIX) :]
                ):
                    message_id = path[len(_ONE_PREFIX) :]
                    await self._answer(send, message_reading(self.ctx, user.id, message_id))
                    return
        await self.app(scope, receive, send)

    async def _answer(self, send: Send, work: Any) -> None:
        try:
            body = await work
        except ApiError as exc:
            error: dict[str, Any] = {"status": False, "message": exc.message}
            if exc.errors:
                error["errors"] = exc.errors
            await _send_json(send, exc.status_code, orjson.dumps(error))
            return
        await _send_json(send, 200, body if isinstance(body, bytes) else orjson.dumps(body))
