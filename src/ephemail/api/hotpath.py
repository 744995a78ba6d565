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
from ephemail.api.reading import listing_page, mailbox_listing, message_reading
from ephemail.core.ids import MESSAGE_ID_LENGTH
from ephemail.store.models import User

_LIST_PATH = "/api/messages"
_ONE_PREFIX = "/api/messages/"


_LISTING_PARAMS = ("email", "limit", "before")
_MAX_LIMIT_DIGITS = 9


def _listing_params(query_string: bytes) -> tuple[str, int | None, str | None] | None:
    """`email` and the paging of a listing as FastAPI would read them (the last value wins);
    None when FastAPI should answer (no `email`, or a `limit` that is not plain digits)."""
    values: dict[str, str] = {}
    for key, item in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in _LISTING_PARAMS:
            values[key] = item
    email = values.get("email")
    limit = values.get("limit")
    if email is None or (
        limit is not None
        and not (limit.isascii() and limit.isdigit() and len(limit) <= _MAX_LIMIT_DIGITS)
    ):
        return None
    return email, None if limit is None else int(limit), values.get("before")


async def _send_json(send: Send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            # Starlette's order, so these answers are byte for byte the routes' answers.
            "headers": [
                (b"content-length", str(len(payload)).encode()),
                (b"content-type", b"application/json"),
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
                    listing = _listing_params(scope["query_string"])
                    if listing is not None:
                        await self._answer(send, self._listing(user.id, *listing))
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

    async def _listing(
        self, user_id: int, email: str, limit: int | None, before: str | None
    ) -> bytes:
        """What the route does, in the route's order: paging checked first, then the mailbox."""
        page = listing_page(limit, before)
        return await mailbox_listing(self.ctx, user_id, email, page)

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
