"""The API bench's reference: a bare ASGI app serving a fixed body, on the HTTP stack ephemail
serves with (uvicorn, httptools, uvloop, one process).

Whatever ephemail does per request beyond this (authentication, quota, reading, metrics) is
the distance between the two rows; the host's speed is in both. The body is the very bytes
ephemail answered the endpoint with, read from a file:

    python bench/lib/bare_asgi.py --port P --body FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import uvicorn


def app_for(body: bytes) -> Any:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    whole = {"type": "http.response.body", "body": body}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(start)
        await send(whole)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app_for(args.body.read_bytes()),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
