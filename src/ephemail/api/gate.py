"""The gate of the User API: who is asking, and is it within their monthly quota (ASGI).

Per request: authenticate → reserve one unit if `used < limit` (else 429) → run the route →
keep the unit on 2xx, release it otherwise. The `X-RateLimit-*` headers are computed from
the reserved value, so a 2xx already shows itself counted and a 4xx does not.

Token routes (`/api/token/{email_token}/…`) carry no key: they count against the owner of
the token's mailbox, in the same way. A token that opens nothing goes on to the route, which
answers 404 unmetered; a disabled owner's token answers that same 404, so whoever holds a
web-inbox link learns nothing about the account behind it.

A store that cannot be reached (the database for the key, Redis or the database for the
quota, or anything the route reads) answers 503 with the envelope (api/outage.py), before
or after the key was checked, as long as no answer has started (which api/ops.py, outside,
notes in the request state).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ephemail.api import outage
from ephemail.api.auth import Authenticator
from ephemail.api.ops import STATUS
from ephemail.api.reading import MAILBOX_NOT_FOUND
from ephemail.api.respond import (
    STATUS_MESSAGES,
    envelope,
    internal_error_body,
    new_request_id,
    send_json,
)
from ephemail.core import metrics
from ephemail.core.periods import Period
from ephemail.store.models import User
from ephemail.store.quota import QuotaBackend

log = logging.getLogger("ephemail.api")

# Made once: these answers are what a flood of bad or over-quota requests gets.
_UNAUTHENTICATED = envelope(STATUS_MESSAGES[401])
_DISABLED = envelope("This account is disabled.")
_QUOTA = envelope(STATUS_MESSAGES[429])
_NO_MAILBOX = envelope(MAILBOX_NOT_FOUND)  # what the token route says of a dead token
_CHALLENGE = [(b"www-authenticate", b"Bearer")]

PUBLIC_PREFIXES = ("/api/docs", "/api/openapi.json", "/api/redoc")
TOKEN_PREFIX = "/api/token/"
TokenOwner = Callable[[str], Awaitable[tuple[User, Period, object] | None]]
"""email_token → (owner, quota period, what it opened), or None when it opens nothing.

What it opened (the live mailbox) is left in the request state as `token_opened`, so the
route does not look it up a second time."""


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return str(credential.strip())
            return None
    return None


def rate_headers(limit: int, used: int, period: Period) -> list[tuple[bytes, bytes]]:
    used = max(0, min(used, limit))
    return [
        (b"x-ratelimit-limit", str(limit).encode()),
        (b"x-ratelimit-used", str(used).encode()),
        (b"x-ratelimit-remaining", str(limit - used).encode()),
        (b"x-ratelimit-reset", period.reset_iso.encode()),
    ]


@dataclass(eq=False)
class AuthAndQuotaMiddleware:
    """ASGI middleware around the app; Starlette builds it with the app and these options."""

    app: ASGIApp
    auth: Authenticator
    quota: QuotaBackend
    token_owner: TokenOwner | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith("/api")
            or path.startswith(PUBLIC_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        try:
            if path.startswith(TOKEN_PREFIX):
                await self._by_token(path, scope, receive, send)
                return
            key = _bearer(scope)
            found = await self.auth.user(key) if key else None
            if found is None:
                await send_json(send, 401, _UNAUTHENTICATED, _CHALLENGE)
                return
            user, period = found
            await self._metered(user, period, scope, receive, send)
        except Exception as exc:
            # The outermost layer (api/ops.py) notes in the state when an answer started.
            if STATUS in scope.get("state", {}) or not outage.is_outage(exc):
                raise
            log.warning("503 for %s: a store is unreachable (%s)", path, exc)
            await send_json(send, 503, outage.BODY, outage.HEADERS)

    async def _by_token(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        token = path[len(TOKEN_PREFIX) :].partition("/")[0]
        found = await self.token_owner(token) if self.token_owner else None
        if found is None:
            await self.app(scope, receive, send)
            return
        owner, period, opened = found
        if owner.disabled:
            await send_json(send, 404, _NO_MAILBOX)
            return
        scope.setdefault("state", {})["token_opened"] = opened
        await self._metered(owner, period, scope, receive, send)

    async def _metered(
        self, user: User, period: Period, scope: Scope, receive: Receive, send: Send
    ) -> None:
        limit = user.plan.monthly_quota
        if user.disabled:
            used = await self.quota.used(user.id, period.key)
            await send_json(send, 403, _DISABLED, rate_headers(limit, used, period))
            return
        reserved = await self.quota.reserve(user.id, period.key, limit)
        if reserved is None:
            retry = max(1, math.ceil(period.reset_epoch - time.time()))
            headers = [*rate_headers(limit, limit, period), (b"retry-after", str(retry).encode())]
            metrics.get().QUOTA_REFUSALS.inc()
            await send_json(send, 429, _QUOTA, headers)
            return
        scope.setdefault("state", {})["user"] = user
        state: dict[str, Any] = {"started": False, "kept": False}

        async def metered_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                status = int(message["status"])
                used = reserved
                if 200 <= status < 300:
                    state["kept"] = True
                else:
                    await self._give_back(user.id, period.key)
                    used = reserved - 1
                message["headers"] = [
                    *message.get("headers", []),
                    *rate_headers(limit, used, period),
                ]
            await send(message)

        try:
            await self.app(scope, receive, metered_send)
        except ClientDisconnect:  # gone mid-body, or timed out by the protocol: nobody to answer
            if not state["started"]:
                await self._give_back(user.id, period.key)
            return
        except Exception as exc:
            if outage.is_outage(exc):  # a 503 (above), and the unit back if it can be
                if not state["started"]:
                    await self._give_back(user.id, period.key)
                raise
            request_id = new_request_id()
            log.exception("unhandled error, request_id=%s path=%s", request_id, path_of(scope))
            if state["started"]:
                raise
            await self._give_back(user.id, period.key)
            await send_json(
                send,
                500,
                internal_error_body(request_id),
                [
                    *rate_headers(limit, reserved - 1, period),
                    (b"x-request-id", request_id.encode()),
                ],
            )
            return
        if not state["started"]:  # the app sent nothing at all: never keep the unit
            await self._give_back(user.id, period.key)

    async def _give_back(self, user_id: int, period: str) -> None:
        """Release a unit; when the quota store is away the unit stays counted (the answer
        matters more than a unit of quota)."""
        try:
            await self.quota.release(user_id, period)
        except Exception as exc:
            if not outage.is_outage(exc):
                raise
            log.warning("could not give back a quota unit: %s", exc)


def path_of(scope: Scope) -> str:
    return str(scope.get("path", ""))
