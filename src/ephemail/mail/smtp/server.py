"""Putting the SMTP front together: the session factory for a server, and its socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from ephemail.mail.delivery import Delivery
from ephemail.mail.smtp.clock import SessionClock
from ephemail.mail.smtp.decisions import DeliveryHandler
from ephemail.mail.smtp.events import ProtocolLimits
from ephemail.mail.smtp.gate import ConnectionGate, SmtpLimits
from ephemail.mail.smtp.session import SmtpSession
from ephemail.mail.smtp.tls import TlsContexts


def smtp_factory(
    delivery: Delivery, limits: SmtpLimits, gate: ConnectionGate
) -> Callable[[], SmtpSession]:
    handler = DeliveryHandler(delivery, limits, gate)
    tls = None
    if limits.tls_cert and limits.tls_key:
        tls = TlsContexts(limits.tls_cert, limits.tls_key)
        tls.context()  # a broken certificate fails at start, not at the first STARTTLS
    protocol_limits = ProtocolLimits(
        hostname=limits.hostname,
        max_message_size=limits.max_message_size,
        max_recipients=limits.max_recipients,
        max_unknown_recipients=limits.max_unknown_recipients,
        tls_available=tls is not None,
    )

    clock = SessionClock(limits)
    loop = asyncio.get_running_loop()

    def make() -> SmtpSession:
        return SmtpSession(handler, limits, gate, protocol_limits, tls, clock, loop)

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
