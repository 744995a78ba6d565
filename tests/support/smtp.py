"""A raw SMTP client and the helpers the SMTP tests share.

Raw sockets, where smtplib would be too polite to misbehave: bytes out, reply lines in,
nothing fixed up. The dialogues block, so tests run them in a thread (`run`) while the
server keeps running on the test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import struct
import time
from collections.abc import Callable
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.ci import ON_CI

if TYPE_CHECKING:
    from tests.support.service import Running

REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -])([^\r\n]*)\r\n$")

SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
# Skipped without Postfix on a laptop; under CI they run, and fail if it is missing.
needs_smtp_source = pytest.mark.skipif(
    not ON_CI and not os.access(SMTP_SOURCE, os.X_OK),
    reason="Postfix smtp-source not installed (apt postfix)",
)


class Closed(Exception):
    """The server closed the connection where a reply was expected."""


class RawSMTP:
    """A deliberately impolite SMTP client: bytes out, reply lines in, nothing fixed up."""

    def __init__(
        self, port: int, host: str = "127.0.0.1", source: str | None = None, timeout: float = 10
    ) -> None:
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        )
        self.buffer = b""

    def __enter__(self) -> RawSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def reset(self) -> None:
        """Close with RST instead of FIN: an abrupt disconnect."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(self.buffer)
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def reply(self) -> tuple[int, bytes]:
        """One complete reply (all continuation lines); asserts every line is well formed."""
        texts = []
        while True:
            line = self._line()
            match = REPLY_LINE.match(line)
            assert match is not None, f"malformed reply line {line!r}"
            texts.append(match.group(3))
            if match.group(2) == b" ":
                return int(match.group(1)), b"\n".join(texts)

    def code(self) -> int:
        return self.reply()[0]

    def command(self, line: bytes) -> int:
        self.send(line + b"\r\n")
        return self.code()

    def greeting(self) -> int:
        return self.code()

    def ehlo(self) -> tuple[int, bytes]:
        self.send(b"EHLO client.example\r\n")
        return self.reply()

    def begin_data(self, box: str) -> None:
        """MAIL, RCPT to `box` and DATA, each accepted: what is sent next is the message."""
        assert self.command(b"MAIL FROM:<sender@example.org>") == 250
        assert self.command(f"RCPT TO:<{box}>".encode()) == 250
        assert self.command(b"DATA") == 354

    def deliver(self, box: str, raw: bytes) -> int:
        """One whole transaction to `box` on this session: the reply to the message."""
        self.begin_data(box)
        self.send(data_block(raw))
        return self.code()

    def wait_closed(self, timeout: float) -> tuple[bool, bytes]:
        """(closed by the server within `timeout`, whatever it sent before closing)."""
        self.sock.settimeout(timeout)
        received = self.buffer
        try:
            while chunk := self.sock.recv(65536):
                received += chunk
        except TimeoutError:
            return False, received
        except OSError:  # reset by the server
            pass
        return True, received

    def silent_for(self, seconds: float) -> bool:
        """True if the server sends nothing (and keeps the connection) for `seconds`."""
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(10.0)
        self.buffer += chunk
        return False


def message(subject: str, body: bytes = b"hello\r\n") -> bytes:
    head = (
        f"From: Sender <sender@example.org>\r\nSubject: {subject}\r\n"
        f"Message-ID: {make_msgid()}\r\n\r\n"
    )
    return head.encode() + body


def data_block(raw: bytes) -> bytes:
    """Dot-stuffed at CRLF line starts, ended with CRLF.CRLF: what DATA expects."""
    lines = raw.split(b"\r\n")
    stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


async def run(dialogue: Callable[..., Any], *args: Any) -> Any:
    """A blocking socket dialogue, off the event loop the server runs on."""
    return await asyncio.wait_for(asyncio.to_thread(dialogue, *args), timeout=60)


async def live_box(svc: Running) -> tuple[str, str]:
    """(mailbox address, API key of its owner)."""
    email, key = await svc.new_user()
    return await svc.new_mailbox(email), key


async def listed(svc: Running, key: str, box: str) -> list[dict[str, Any]]:
    async with svc.client(key) as client:
        response = await client.get("/api/messages", params={"email": box})
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def read_one(svc: Running, key: str, message_id: str) -> dict[str, Any]:
    async with svc.client(key) as client:
        response = await client.get(f"/api/messages/{message_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    for name in ("subject", "from", "from_email", "content"):
        assert isinstance(data[name], str)
    return data


async def only_message(svc: Running, key: str, box: str) -> dict[str, Any]:
    """The one message `box` holds, read through the API."""
    (stored,) = await listed(svc, key, box)
    return await read_one(svc, key, stored["id"])


async def subjects(svc: Running, key: str, box: str) -> list[str]:
    return sorted(m["subject"] for m in await listed(svc, key, box))


async def assert_still_serving(svc: Running) -> None:
    """A well-behaved sender still gets through, and the message is readable by the API."""
    box, key = await live_box(svc)
    subject = f"still serving {secrets.token_hex(4)}"
    refused = await svc.send(message(subject), [box])
    assert refused == {}
    (found,) = await listed(svc, key, box)
    assert found["subject"] == subject
    assert (await read_one(svc, key, found["id"]))["subject"] == subject


async def wait_gate_idle(svc: Running, timeout: float = 5.0) -> None:
    """Every abusive session has been released (no leaked connection slots)."""
    deadline = time.monotonic() + timeout
    while svc.service.gate.active > 0:
        assert time.monotonic() < deadline, f"{svc.service.gate.active} sessions still open"
        await asyncio.sleep(0.02)


def open_data(client: RawSMTP, box: str) -> None:
    """A transaction to `box` past `354`: what the client sends next is the message."""
    assert client.greeting() == 220
    assert client.ehlo()[0] == 250
    client.begin_data(box)


async def send_data(svc: Running, box: str, data: bytes) -> int:
    """One transaction to `box` whose DATA is exactly `data`, its end included (the test
    decides how it ends): the reply to it."""

    def dialogue() -> int:
        with RawSMTP(svc.smtp_port) as client:
            open_data(client, box)
            client.send(data)
            return client.code()

    code: int = await run(dialogue)
    return code
