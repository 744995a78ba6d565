#!/usr/bin/env python3
"""An SMTP server that stores nothing: the protocol cost alone, for the ingest bench's
reference rows.

`--impl ours` runs ephemail's SMTP front (the mail/smtp package) with
every recipient accepted without a look-up and every message answered `250` without being
parsed or stored; `--impl aiosmtpd` runs aiosmtpd (the library ephemail used before) with a
handler that does the same; `--impl bare` is the least a receiver can do in Python (split
lines, a fixed reply to each, find the end of DATA: no limits, no checks, not a server), the
ceiling any Python front has on this host. All on uvloop, one process, one event loop, as a
worker runs.

    python bench/null_smtp.py --impl ours --port 2600
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

from ephemail.mail.smtp.gate import ConnectionGate, SmtpLimits
from ephemail.mail.smtp.server import bind_socket, smtp_factory
from ephemail.store.models import Recipient

MAX_SIZE = 10 * 1024 * 1024


class NullDelivery:
    """Every address is a live, empty mailbox (no database); `deliver` answers at once:
    nothing parsed, compressed or committed."""

    eager = True  # nothing here waits: decide in the protocol callback

    async def resolve(self, recipient: str) -> Recipient | None:
        return self.resolve_now(recipient)

    def resolve_now(self, recipient: str) -> Recipient | None:
        return Recipient(1, 1, recipient, 0, "")

    async def deliver(
        self, envelope_from: str, recipients: Sequence[Recipient], raw: bytes
    ) -> list[str]:
        return ["null"]


def null_session_factory() -> Callable[[], asyncio.Protocol]:
    """Our front's sessions storing nothing, with limits no bench load reaches (call it in
    a running loop, as smtp_factory asks)."""
    limits = SmtpLimits(
        max_message_size=MAX_SIZE,
        mailbox_message_cap=1_000_000,
        max_recipients=100,
        max_connections=10_000,
        timeout=60,
        hostname="null.test",
    )
    gate = ConnectionGate(limit=10_000, per_client=10_000)
    return smtp_factory(NullDelivery(), limits, gate)  # type: ignore[arg-type]


async def serve_ours(port: int) -> None:
    factory = null_session_factory()
    sock = bind_socket("127.0.0.1", port, reuse_port=False)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, sock=sock)
    print("ready", flush=True)
    await server.serve_forever()


class BareSmtp(asyncio.Protocol):
    """Fixed replies, the DATA terminator found, nothing else: a ceiling, not a server."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.buffer = b""
        self.in_data = False
        self.transport.write(b"220 null.test ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        buffer, out = self.buffer + data, []
        while True:
            if self.in_data:  # the buffer starts with the CRLF that ended the DATA line
                end = buffer.find(b"\r\n.\r\n")
                if end < 0:
                    buffer = buffer[-4:]
                    break
                buffer, self.in_data = buffer[end + 5 :], False
                out.append(b"250 2.0.0 OK queued as null\r\n")
                continue
            eol = buffer.find(b"\r\n")
            if eol < 0:
                break
            verb, buffer = buffer[:4].upper(), buffer[eol + 2 :]
            if verb == b"EHLO":
                out.append(b"250-null.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                buffer, self.in_data = b"\r\n" + buffer, True
            elif verb == b"QUIT":
                self.transport.write(b"".join(out) + b"221 2.0.0 Bye\r\n")
                self.transport.close()
                return
            else:
                out.append(b"250 2.0.0 OK\r\n")
        self.buffer = buffer
        if out:
            self.transport.write(b"".join(out))


async def serve_bare(port: int) -> None:
    sock = bind_socket("127.0.0.1", port, reuse_port=False)
    server = await asyncio.get_running_loop().create_server(BareSmtp, sock=sock)
    print("ready", flush=True)
    await server.serve_forever()


async def serve_aiosmtpd(port: int) -> None:
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 2.0.0 OK queued as null"

    sock = bind_socket("127.0.0.1", port, reuse_port=False)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            Handler(),
            data_size_limit=MAX_SIZE,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="null.test",
            timeout=60,
        ),
        sock=sock,
    )
    print("ready", flush=True)
    await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--impl", choices=("ours", "aiosmtpd", "bare"), required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every session
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    run = {"ours": serve_ours, "aiosmtpd": serve_aiosmtpd, "bare": serve_bare}[args.impl]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
