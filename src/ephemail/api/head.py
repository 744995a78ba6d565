"""`HEAD` on a GET route answers like `GET`, without the body (RFC 9110 §9.3.2).

FastAPI registers only the methods a route names, so `HEAD /api/domains` answered 405.
The request runs as a GET (auth, quota and the hot path included); uvicorn sees the
original HEAD and sends the headers, `Content-Length` of the GET included, and no body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
