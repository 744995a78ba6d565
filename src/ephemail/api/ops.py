"""Operations (ASGI, outermost): `GET /metrics`, `GET /health`, and the request metrics.

Both paths sit outside /api: no key, no quota. `/metrics` wants `Authorization: Bearer
<metrics_token>` when the operator set one (else bind the HTTP port privately or filter it at
the proxy; docs/metrics.md). Every other request is counted by route template, method and
status, with its time in a histogram; the labelled children are looked up once per series
and kept, so a request costs two dictionary look-ups and two increments.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ephemail.api.respond import envelope, send_json
from ephemail.core import metrics

HealthCheck = Callable[[], Awaitable[dict[str, str]]]
ROUTE_KEY = "ephemail.route"  # set by routes that bypass FastAPI's router (the hot path)
API_PREFIX = "/api/"
OTHER = "other"  # no route matched: kept as one series, whatever the path


class OpsMiddleware:
    def __init__(self, app: ASGIApp, *, token: str = "", health: HealthCheck | None = None) -> None:
        self.app = app
        self.token = token
        self.health = health
        self._routes: list[tuple[re.Pattern[str], str]] | None = None
        self._latency: dict[str, Any] = {}
        self._count: dict[tuple[str, str, int], Any] = {}

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
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self._observe(scope, status, time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, observed)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = self._route(scope)
        hist = self._latency.get(route)
        if hist is None:
            hist = self._latency[route] = metrics.get().API_LATENCY.labels(route)
        hist.observe(seconds)
        key = (route, scope["method"], status)
        counter = self._count.get(key)
        if counter is None:
            counter = self._count[key] = metrics.get().API_REQUESTS.labels(*key)
        counter.inc()

    def _route(self, scope: Scope) -> str:
        """The route template: FastAPI's route (whose path lacks the router's `/api`
        prefix), the hot path's mark, or (for an answer sent before routing, e.g. a 401 or
        429 of the gate) the first documented template whose pattern matches the path."""
        path: str = scope["path"]
        route = scope.get("route")
        if route is not None:
            template = str(getattr(route, "path", OTHER))
            if path.startswith(API_PREFIX) and not template.startswith(API_PREFIX):
                template = "/api" + template
            return template
        marked = scope.get(ROUTE_KEY)
        if marked is not None:
            return str(marked)
        if self._routes is None:
            self._routes = _templates(scope.get("app"))
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
