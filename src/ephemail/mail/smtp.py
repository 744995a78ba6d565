"""The SMTP receiver: aiosmtpd speaks the protocol, this decides who gets mail.

RCPT is accepted only for a live mailbox, so nothing relays; DATA is answered `250` only
after the group-commit writer has committed the message.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import socket
from dataclasses import dataclass, field
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Envelope, Session

from ephemail.mail.delivery import Delivery
from ephemail.store.ingest import NotStored, WriterClosed
from ephemail.store.models import Recipient

log = logging.getLogger(__name__)


@dataclass
class SmtpLimits:
    max_message_size: int
    mailbox_message_cap: int
    max_recipients: int
    max_connections: int
    timeout: float
    hostname: str


@dataclass
class ConnectionGate:
    """Counts open sessions so a flood is told 421 instead of exhausting the process."""

    limit: int
    active: int = 0
    closing: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    def enter(self) -> bool:
        self.active += 1
        self.idle.clear()
        return self.active <= self.limit and not self.closing

    def leave(self) -> None:
        self.active -= 1
        if self.active <= 0:
            self.idle.set()


class DeliveryHandler:
    """aiosmtpd hooks: recipient checks at RCPT, durable store at DATA."""

    def __init__(
        self,
        delivery: Delivery,
        limits: SmtpLimits,
        gate: ConnectionGate,
    ) -> None:
        self._delivery = delivery
        self._limits = limits
        self._gate = gate

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Advertise PIPELINING (RFC 2920): aiosmtpd reads commands in order from one stream,
        so an MTA may send MAIL, RCPT and DATA in one packet and save two round trips."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._gate.closing:
            return "421 4.3.2 Service shutting down, try again later"
        if not _storable(address):
            # Refused now, for good: accepting it would fail every DATA with a temporary error.
            return "553 5.1.7 Sender address has characters that cannot be stored"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        envelope.rcpt_recipients = {}  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        boxes: dict[int, Recipient] = getattr(envelope, "rcpt_recipients", {})
        if len(envelope.rcpt_tos) >= self._limits.max_recipients:
            return "452 4.5.3 Too many recipients"
        try:
            recipient = await self._delivery.resolve(address)
        except Exception:
            log.exception("recipient lookup failed")
            return "451 4.3.0 Temporary lookup failure, try again later"
        if recipient is None:
            return "550 5.1.1 No such mailbox here"
        if recipient.message_count >= self._limits.mailbox_message_cap:
            return "452 4.2.2 Mailbox full, try again later"
        boxes[recipient.mailbox_id] = recipient
        envelope.rcpt_recipients = boxes  # type: ignore[attr-defined]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        boxes: dict[int, Recipient] = getattr(envelope, "rcpt_recipients", {})
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if not boxes:
            return "554 5.5.1 No valid recipients"
        # Waiting for the commit is our time, not the client's: an idle timeout firing here
        # would drop a client whose message then gets stored, and it would send it again.
        pause_timeout(server)
        try:
            ids = await self._delivery.deliver(envelope.mail_from or "", list(boxes.values()), raw)
        except WriterClosed:
            return "421 4.3.2 Service shutting down, try again later"
        except NotStored as exc:
            return exc.reply
        except Exception:
            log.exception("storing message failed")
            return "451 4.3.0 Could not store the message, try again later"
        finally:
            server._reset_timeout()
        return f"250 2.0.0 OK queued as {ids[0]}"


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(.*)\Z")


def _storable(address: str) -> bool:
    """No control characters and nothing that is not text (8-bit bytes arrive as surrogates)."""
    return not any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in address)


def pause_timeout(server: SMTP) -> None:
    handle = getattr(server, "_timeout_handle", None)
    if handle is not None:
        handle.cancel()


class EphemailSMTP(SMTP):
    """aiosmtpd's SMTP with a connection limit; the protocol itself stays aiosmtpd's.

    Lines may be far longer than RFC 5321's 1,000 octets: real senders break that rule (and
    bare-LF mail arrives as one "line"), and a temp inbox should keep such mail, not bounce
    it. The bound still caps what one session can make us buffer.
    """

    line_length_limit = 256 * 1024

    def __init__(self, handler: DeliveryHandler, gate: ConnectionGate, **kwargs: Any) -> None:
        # aiosmtpd keeps these limits in one class-level dict shared by every session, so one
        # client's EHLO changed another's limits; each session gets its own.
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        super().__init__(handler, **kwargs)
        self._gate = gate
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._admitted = self._gate.enter()
        super().connection_made(transport)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """`<local@domain>` in plain ASCII is read directly; anything else as aiosmtpd reads it.

        aiosmtpd builds a typing.Protocol class on every call (about a tenth of the CPU of a
        delivery in profiles) before running the RFC 5322 parser.
        """
        match = _SIMPLE_PATH.match(arg)
        if match is None or len(match.group(1).rpartition("@")[0]) > self.local_part_limit > 0:
            result: tuple[str | None, str | None] = super()._getaddr(arg)
            return result
        return match.group(1), match.group(2).lstrip()

    def data_received(self, data: bytes) -> None:
        """The timeout is for idle clients: any bytes arriving, DATA included, reset it."""
        if self.transport is not None and self._timeout_handle is not None:
            self._reset_timeout()
        super().data_received(data)

    async def smtp_EHLO(self, hostname: str) -> None:
        self.command_size_limits.clear()  # a second EHLO must not grow the limits again
        await super().smtp_EHLO(hostname)

    def connection_lost(self, error: Exception | None) -> None:
        self._gate.leave()
        super().connection_lost(error)

    async def push(self, status: AnyStr) -> None:
        """A `421` means this service is closing the channel (RFC 5321 3.8): so close it."""
        await super().push(status)
        code = status[:3] if isinstance(status, str) else status[:3].decode("ascii", "replace")
        if code == "421" and self.transport is not None:
            self.transport.close()

    async def _handle_client(self) -> None:
        if not self._admitted:
            await self.push("421 4.7.0 Too many connections, try again later")
            return
        await super()._handle_client()


def smtp_factory(delivery: Delivery, limits: SmtpLimits, gate: ConnectionGate) -> Any:
    handler = DeliveryHandler(delivery, limits, gate)

    def make() -> EphemailSMTP:
        return EphemailSMTP(
            handler,
            gate,
            data_size_limit=limits.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=limits.hostname,
            ident="ephemail ESMTP",
            timeout=limits.timeout,
            auth_require_tls=True,
        )

    return make


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """Bind ourselves so several worker processes can share the port (SO_REUSEPORT)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    # The protocol must be IPPROTO_TCP, not 0, or asyncio skips TCP_NODELAY and every small
    # reply waits ~40 ms for Nagle's algorithm.
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(addr)
    sock.listen(1024)
    sock.setblocking(False)
    return sock
