"""The asyncio adapter around the SMTP machine, with a recording transport: what it writes,
when it stops reading, and that decisions are taken in order. No sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ephemail.mail.smtp.decisions import DeliveryHandler
from ephemail.mail.smtp.events import ProtocolLimits
from ephemail.mail.smtp.gate import ConnectionGate, SmtpLimits
from ephemail.mail.smtp.session import BACKLOG_LIMIT, SmtpSession
from ephemail.store.models import Recipient


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.paused = False
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.9", 12345) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True

    def pump(self, protocol: asyncio.Protocol, waiting: bytearray) -> None:
        """Deliver what the client sent, 64 KiB a read, as a real transport: not while paused."""
        while waiting and not self.paused:
            protocol.data_received(bytes(waiting[:65_536]))
            del waiting[:65_536]

    def is_closing(self) -> bool:
        return self.closed


class SlowDelivery:
    """Addresses @live.test receive; a commit takes as long as the test wants."""

    eager = True

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.submitted: list[bytes] = []

    async def deliver(self, sender: str, recipients: Sequence[Recipient], raw: bytes) -> list[str]:
        self.submitted.append(raw)
        await self.release.wait()
        return [f"id{len(self.submitted)}"]

    async def resolve(self, address: str) -> Recipient | None:
        return self.resolve_now(address)

    def resolve_now(self, address: str) -> Recipient | None:
        return Recipient(1, 1, address, 0, "life") if address.endswith("@live.test") else None


def session(writer: SlowDelivery) -> tuple[SmtpSession, Transport, ConnectionGate]:
    limits = SmtpLimits(10_000_000, 1000, 100, 10, 60.0, "mx.test")
    gate = ConnectionGate(limit=10)
    handler = DeliveryHandler(writer, limits, gate)  # type: ignore[arg-type]
    smtp = SmtpSession(handler, limits, gate, ProtocolLimits("mx.test", 10_000_000, 100), None)
    transport = Transport()
    smtp.connection_made(transport)
    return smtp, transport, gate


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_pipelined_input_behind_a_commit_is_bounded_and_answered_in_order() -> None:
    writer = SlowDelivery()
    smtp, transport, gate = session(writer)
    smtp.data_received(
        b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@live.test>\r\nDATA\r\none\r\n.\r\n"
    )
    await settle()
    assert writer.submitted == [b"one\r\n"]  # the commit is pending
    assert transport.written.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n")
    answered = len(transport.written)
    # The client pipelines on: NOOPs, then a whole next message of 1 MiB.
    sent = bytearray(b"NOOP\r\n" * 10)
    sent += b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@live.test>\r\nDATA\r\n"
    sent += (b"x" * 1022 + b"\r\n") * (16 * 64)  # 1 MiB of message
    transport.pump(smtp, sent)
    await settle()
    assert len(transport.written) == answered  # nothing answered ahead of the commit
    assert transport.paused  # we stopped reading past the backlog ...
    assert smtp.conn.buffered <= BACKLOG_LIMIT + 65_536  # ... so what we hold is bounded
    assert len(sent) > 512 * 1024  # and the rest stays with the client
    writer.release.set()
    await settle()
    assert not transport.paused  # the backlog drains into the next message
    transport.pump(smtp, sent)
    assert not sent
    replies = transport.written[answered:].split(b"\r\n")
    assert replies[0] == b"250 2.0.0 OK queued as id1"
    assert replies[1:11] == [b"250 2.0.0 OK"] * 10
    assert replies[11:14] == [
        b"250 2.1.0 OK",
        b"250 2.1.5 OK",
        b"354 End data with <CR><LF>.<CR><LF>",
    ]
    smtp.data_received(b".\r\nQUIT\r\n")
    await settle()
    assert len(writer.submitted) == 2 and len(writer.submitted[1]) == 16 * 65_536
    assert transport.written.endswith(b"221 2.0.0 Bye\r\n") and transport.closed
    smtp.connection_lost(None)
    assert gate.active == 0


async def test_a_client_that_does_not_read_its_replies_is_not_read_either() -> None:
    smtp, transport, _ = session(SlowDelivery())
    smtp.pause_writing()
    assert transport.paused
    smtp.resume_writing()
    assert not transport.paused
    smtp.connection_lost(None)


class TaskBoundDelivery(SlowDelivery):
    """Reads like asyncpg's: they need a current Task (asyncio.timeout refuses otherwise)."""

    eager = False

    async def resolve(self, address: str) -> Recipient | None:
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
        return await super().resolve(address)


async def test_a_store_whose_reads_need_a_task_gets_its_decisions_in_one() -> None:
    delivery = TaskBoundDelivery()
    smtp, transport, _ = session(delivery)
    loop = asyncio.get_running_loop()
    # As a transport does: data arrives in a loop callback, outside any Task.
    loop.call_soon(smtp.data_received, b"EHLO c\r\nMAIL FROM:<a@example.org>\r\n")
    loop.call_soon(smtp.data_received, b"RCPT TO:<b@live.test>\r\n")
    await settle()
    assert transport.written.endswith(b"250 2.1.5 OK\r\n")
    loop.call_soon(smtp.data_received, b"RCPT TO:<nobody@else.test>\r\n")
    await settle()
    assert transport.written.endswith(b"550 5.1.1 No such mailbox here\r\n")
    smtp.connection_lost(None)
