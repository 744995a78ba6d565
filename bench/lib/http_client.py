"""A lean keep-alive HTTP/1.1 client on asyncio streams, for load drivers.

httpx costs about 1 ms of CPU per request, so a driver built on it saturates a core at about
1,000 req/s and measures itself rather than the server. This client writes a pre-built
request head, reads the response head up to the blank line, and reads the body by its
Content-Length (or its chunks): a few tens of microseconds per request. It speaks to one
origin over one connection at a time, which is what a simulated user does; it decodes
nothing the caller does not ask for.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any

import orjson

MAX_HEAD = 64 * 1024
IDLE_REUSE_S = 4.0  # reconnect before the server's keep-alive timeout (uvicorn: 5 s) can bite


class HttpProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.1 as this client understands it."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        """Decode on demand: most callers only need the status."""
        return orjson.loads(self.body)


def set_nodelay(writer: asyncio.StreamWriter) -> None:
    """Small requests must leave at once, not wait for Nagle's algorithm."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class HttpConn:
    """One keep-alive connection to `host:port`, opened lazily and reopened after a close."""

    def __init__(self, host: str, port: int, headers: dict[str, str], timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._fixed = f"Host: {host}:{port}\r\n{fixed}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def request(self, method: str, target: str) -> HttpResponse:
        """Send one body-less request and read the whole response.

        Raises OSError (ConnectionError, TimeoutError, HttpProtocolError) on any failure of
        the connection; the connection is then dropped, and the next request opens a new one.
        """
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._connection()
                writer.write(self._head(method, target))
                response, keep = await _read_response(reader, method)
        except asyncio.IncompleteReadError as exc:
            self.close()
            raise ConnectionResetError("server closed the connection mid-response") from exc
        except BaseException:
            self.close()
            raise
        if keep:
            self._last_used = time.monotonic()
        else:
            self.close()
        return response

    def _head(self, method: str, target: str) -> bytes:
        length = b"" if method in ("GET", "HEAD") else b"Content-Length: 0\r\n"
        return b"%s %s HTTP/1.1\r\n%s%s\r\n" % (
            method.encode(),
            target.encode(),
            self._fixed,
            length,
        )

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = self._reader, self._writer
        stale = time.monotonic() - self._last_used > IDLE_REUSE_S
        if reader is None or writer is None or reader.at_eof() or stale:
            self.close()
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD)
            set_nodelay(writer)
            self._reader, self._writer = reader, writer
        return reader, writer

    def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[HttpResponse, bool]:
    """One response: (the response, whether the connection may carry another)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise HttpProtocolError("response head too large") from exc
    status, length, chunked, keep = _parse_head(head)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif chunked:
        body = await _read_chunks(reader)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body, keep = await reader.read(), False
    return HttpResponse(status, body), keep


def _parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    """Status, Content-Length, chunked or not, keep-alive or not."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpProtocolError(f"bad status line {lines[0][:60]!r}")
    try:
        status = int(parts[1])
    except ValueError as exc:
        raise HttpProtocolError(f"bad status line {lines[0][:60]!r}") from exc
    length: int | None = None
    chunked = False
    keep = parts[0] == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            if not value.strip().isdigit():
                raise HttpProtocolError(f"bad Content-Length {value[:40]!r}")
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep = b"close" not in value.lower()
    return status, length, chunked, keep


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0], 16)
        except ValueError as exc:
            raise HttpProtocolError(f"bad chunk size {size_line[:40]!r}") from exc
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])
