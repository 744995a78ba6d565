"""The two busiest reads, served without FastAPI's routing and validation layers.

`GET /api/messages?email=` and `GET /api/messages/{id}` are what test suites poll. Profiles
showed FastAPI's router, dependency solving and exception wrappers costing more than the
database; this ASGI layer (inside the gate, so auth and counting are the same)
answers those two shapes with the very functions the FastAPI routes call. Anything it does
not recognise, a missing `email` included, falls through to FastAPI unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from ephemail.api.context import ApiContext
from ephemail.api.errors import ApiError
from ephemail.api.ops import ROUTE_KEY
from ephemail.api.reading import Reader, mailbox_listing, message_reading, messages_base
from ephemail.api.respond import send_json
from ephemail.core.ids import MESSAGE_ID_LENGTH
from ephemail.store.models import User

_LIST_PATH = "/api/messages"
_ONE_PREFIX = "/api/messages/"
_ONE_TEMPLATE = "/api/messages/{message_id}"


_LISTING_PARAMS = ("email", "limit", "before")
_FILTERS = frozenset(("q", "from", "subject", "since", "unread"))  # api/search.py
_MAX_LIMIT_DIGITS = 9


def _listing_params(query_string: bytes) -> tuple[str, int | None, str | None] | None:
    """`email` and the paging of a listing as FastAPI would read them (the last value wins);
    None when FastAPI should answer (no `email`, a `limit` that is not plain digits, or a
    filter)."""
    values: dict[str, str] = {}
    for key, item in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in _LISTING_PARAMS:
            values[key] = item
        elif key in _FILTERS:
            return None  # a filtered listing: FastAPI's route answers it
    email = values.get("email")
    limit = values.get("limit")
    if email is None or (
        limit is not None
        and not (limit.isascii() and limit.isdigit() and len(limit) <= _MAX_LIMIT_DIGITS)
    ):
        return None
    return email, None if limit is None else int(limit), values.get("before")


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
                        scope[ROUTE_KEY] = _LIST_PATH
                        await _answer(send, mailbox_listing(self.ctx, user.id, *listing))
                        return
                elif (
                    path.startswith(_ONE_PREFIX)
                    and len(path) == len(_ONE_PREFIX) + MESSAGE_ID_LENGTH
                    and "/" not in path[len(_ONE_PREFIX) :]
                ):
                    message_id = path[len(_ONE_PREFIX) :]
                    scope[ROUTE_KEY] = _ONE_TEMPLATE
                    base = messages_base(self.ctx)
                    await _answer(
                        send, message_reading(self.ctx, message_id, base, Reader(user_id=user.id))
                    )
                    return
        await self.app(scope, receive, send)


async def _answer(send: Send, work: Awaitable[bytes]) -> None:
    """The route's answer: its JSON, or its error in the envelope."""
    try:
        body = await work
    except ApiError as exc:
        await send_json(send, exc.status_code, exc.body())
        return
    await send_json(send, 200, body)
