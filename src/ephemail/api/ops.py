"""Operations (ASGI, outermost): `GET /metrics`, `GET /health`, and what every request counts.

Both paths sit outside /api: no key, no quota. `/metrics` wants `Authorization: Bearer
<metrics_token>` when the operator set one (else bind the HTTP port privately or filter it at
the proxy; docs/metrics.md). Every other request is counted by route template, method and
status, with its time in a histogram (in this process's tally, core/metrics.py), and in the
account's daily usage (store/usage.py) when a meter is given.

This is the one layer that wraps `send` for everyone: the answer's status, once it starts,
is left in the request state (`STATUS`) for the layers inside (the gate's 503 for a store
that is away needs to know whether an answer began), and a HEAD runs as a GET here
(api/head.py) rather than in a layer of its own.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ephemail.api.head import answer_head
from ephemail.api.respond import envelope, internal_error_body, new_request_id, send_json
from ephemail.core import metrics
from ephemail.store.models import User
from ephemail.store.usage import UsageMeter

log = logging.getLogger("ephemail.api")

HealthCheck = Callable[[], Awaitable[dict[str, str]]]
ROUTE_KEY = "ephemail.route"  # set by routes that bypass FastAPI's router (the hot path)
API_PREFIX = "/api/"
OTHER = "other"  # no route matched: kept as one series, whatever the path
STATUS = "status"  # in the request state: the answer's status once it has started


class OpsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        api: Any = None,
        token: str = "",
        health: HealthCheck | None = None,
        usage: UsageMeter | None = None,
    ) -> None:
        self.app = app
        self.api = api  # the FastAPI app whose OpenAPI document names the route templates
        self.token = token
        self.health = health
        self.usage = usage
        self._routes: list[tuple[re.Pattern[str], str]] | None = None
        self._tally = metrics.requests()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/metrics":
            await self._metrics(scope, send)
            return
        if path == "/health":
            await self._health(send)
            return
        started = time.perf_counter()
        # Made before any copy of the scope (HEAD's), so every layer inside shares it.
        state = scope.setdefault("state", {})

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = state[STATUS] = int(message["status"])
                seconds = time.perf_counter() - started
                route = scope.get(ROUTE_KEY) or self._route(scope)  # the hot path's, at once
                self._tally.record(route, scope["method"], status, seconds)
            await send(message)

        try:
            if scope["method"] == "HEAD":
                await answer_head(self.app, scope, receive, observed)
            else:
                await self.app(scope, receive, observed)
        except ClientDisconnect:
            pass  # gone mid-body, or timed out by the protocol: no fault, nobody to answer
        except Exception as exc:
            # A fault in a layer outside FastAPI (the gate, the hot path): logged under an
            # id that the 500's envelope carries, as FastAPI's own handler does for routes.
            request_id = new_request_id()
            log.error("unhandled error, request_id=%s", request_id, exc_info=exc)
            if STATUS in state:
                raise  # the answer had begun: the server can only cut the connection
            await send_json(observed, 500, internal_error_body(request_id))
        finally:
            if self.usage is not None:
                # The gate leaves the account it metered in the state; a 2xx kept a unit.
                user: User | None = state.get("user")
                status = state.get(STATUS, 0)
                kept = user is not None and 200 <= status < 300
                self.usage.api_request(user.id if user else None, kept)

    def _route(self, scope: Scope) -> str:
        """The route template when the hot path left none: FastAPI's route (whose path
        lacks the router's `/api` prefix), or (for an answer sent before routing, e.g. a 401 or
        429 of the gate) the first documented template whose pattern matches the path."""
        path: str = scope["path"]
        route = scope.get("route")
        if route is not None:
            template = str(getattr(route, "path", OTHER))
            if path.startswith(API_PREFIX) and not template.startswith(API_PREFIX):
                template = "/api" + template
            return template
        if self._routes is None:
            self._routes = _templates(self.api or scope.get("app"))
        for pattern, template in self._routes:
            if pattern.fullmatch(path):
                return template
        return OTHER

    async def _metrics(self, scope: Scope, send: Send) -> None:
        if self.token and not _bearer_is(scope, self.token):
            await send_json(
                send, 401, envelope("Unauthenticated."), [(b"www-authenticate", b"Bearer")]
            )
            return
        body = metrics.exposition()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE_LATEST.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _health(self, send: Send) -> None:
        checks = await self.health() if self.health else {}
        down = sorted(name for name, state in checks.items() if state != "ok")
        body: dict[str, Any] = {"status": "down" if down else "ok", "checks": checks}
        if down:
            body["down"] = down
        await send_json(send, 503 if down else 200, orjson.dumps(body))


def _templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    """The documented paths as patterns, built once, from the OpenAPI document."""
    try:
        paths = app.openapi()["paths"]
    except Exception:
        return []
    return [
        (re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))), template)
        for template in paths
    ]


def _bearer_is(scope: Scope, token: str) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(
                credential.strip().encode(), token.encode()
            )
    return False
