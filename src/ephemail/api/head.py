"""`HEAD` on a GET route answers like `GET`, without the body (RFC 9110 §9.3.2).

FastAPI registers only the methods a route names, so `HEAD /api/domains` answered 405.
The request runs as a GET (auth, quota and the hot path included); uvicorn sees the
original HEAD and sends the headers, `Content-Length` of the GET included, and no body.

A streamed answer (the event streams) would never end by itself: once its headers are
out, the body it would have sent is cut off, the response is finished, and the route is
cancelled, so `HEAD /api/events` answers its headers and ends.

Called by the outermost layer (api/ops.py) for HEAD requests only, so a GET passes through
no layer of its own.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def answer_head(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run a HEAD request through `app` as a GET and send its answer without the body."""
    streamed = asyncio.Event()

    async def without_body(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
        elif streamed.is_set():
            return
        elif message.get("more_body", False):  # a stream: finish it here, once
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            streamed.set()
        else:
            await send({**message, "body": b""})

    task = asyncio.ensure_future(app({**scope, "method": "GET"}, receive, without_body))
    cut = asyncio.ensure_future(streamed.wait())
    try:
        await asyncio.wait([task, cut], return_when=asyncio.FIRST_COMPLETED)
    finally:
        cut.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled():
        task.result()  # its failure, if any, is raised as it would have been
