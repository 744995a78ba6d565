"""One HTTP application for the API and the website, split by path at the outermost layer.

`/api` and everything under `/api/` go to the API exactly as before (its gate, quota and
hot path), and so do `/metrics` and `/health`; every other path goes to the website. The
API side is also where usage per day is counted (store/usage.py): one dict increment per
answer, no database work.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ephemail.store.models import User
from ephemail.store.usage import UsageMeter

# The operator's endpoints live in the API application (api/ops.py) but outside `/api`: no
# key, no quota, and not counted as anyone's API use.
OPS_PATHS = frozenset({"/metrics", "/health"})


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/api"


class SiteDispatch:
    def __init__(self, api: ASGIApp, web: ASGIApp, usage: UsageMeter | None = None) -> None:
        self.api = api
        self.web = web
        self.usage = usage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in OPS_PATHS:
            await self.api(scope, receive, send)
            return
        if scope["type"] != "http" or is_api_path(scope["path"]):
            if self.usage is None or scope["type"] != "http":
                await self.api(scope, receive, send)
                return
            await self._counted(scope, receive, send)
            return
        await self.web(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0
        state = scope.setdefault("state", {})  # shared with copies of the scope made inside

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.api(scope, receive, noting_send)
        finally:
            # The gate leaves the account it metered in the scope's state; a 2xx kept a unit.
            user: User | None = state.get("user")
            assert self.usage is not None
            kept = user is not None and 200 <= status < 300
            self.usage.api_request(user.id if user else None, kept)
