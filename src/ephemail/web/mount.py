"""One HTTP application for the API and the website, split by path at the outermost layer.

`/api` and everything under `/api/` go to the API exactly as before (its gate, quota and
hot path), and so do `/metrics` and `/health`; every other path goes to the website. The
API's outermost layer (api/ops.py) counts usage per day; nothing here wraps `send`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

# The operator's endpoints live in the API application (api/ops.py) but outside `/api`: no
# key, no quota, and not counted as anyone's API use.
OPS_PATHS = frozenset({"/metrics", "/health"})


class SiteDispatch:
    def __init__(self, api: ASGIApp, web: ASGIApp) -> None:
        self.api = api
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/api/") or path == "/api" or path in OPS_PATHS:
            await self.api(scope, receive, send)
        else:
            await self.web(scope, receive, send)
