"""The SMTP receiver: an asyncio.Protocol around the sans-IO machine in smtp_protocol.py.

This module owns sockets, timers and the service's decisions; the protocol itself (what
each command means, reply order, limits on lines and messages) lives in the machine.
RCPT is accepted only for a live mailbox, so nothing relays; DATA is answered `250` only
after the group-commit writer has committed the message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
import types
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ephemail.mail.delivery import Delivery
from ephemail.mail.smtp_protocol import (
    MailFrom,
    Message,
    ProtocolLimits,
    RcptTo,
    ServerConnection,
    StartTls,
    State,
)
from ephemail.store.ingest import NotStored, WriterClosed
from ephemail.store.models import Recipient

log = logging.getLogger(__name__)

BACKLOG_LIMIT = 64 * 1024  # pipelined input held behind a pending decision before we stop reading
REPLY_SHUTDOWN = "421 4.3.2 Service shutting down, try again later"


@dataclass
class SmtpLimits:
    max_message_size: int
    mailbox_message_cap: int
    max_recipients: int
    max_connections: int
    timeout: float
    hostname: str
    session_timeout: float = 600.0
    data_timeout: float = 300.0
    max_unknown_recipients: int = 20
    max_unknown_recipients_per_client: int = 100
    probe_window: float = 600.0
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass
class _Client:
    connections: int = 0
    unknown: int = 0
    window_start: float = 0.0


@dataclass
class ConnectionGate:
    """Counts open sessions, in all and per client address, so a flood is told 421 instead
    of exhausting the process; and counts unknown recipients per client address, so that
    reconnecting does not reset the budget of a recipient prober."""

    limit: int
    per_client: int = 50
    unknown_per_client: int = 100
    probe_window: float = 600.0
    active: int = 0
    closing: bool = False
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    clients: dict[str, _Client] = field(default_factory=dict)
    max_tracked: int = 100_000

    def __post_init__(self) -> None:
        self.idle.set()

    def enter(self, client: str = "") -> str | None:
        """Count a new session; the refusal to send it, or None when it may go on."""
        self.active += 1
        self.idle.clear()
        entry = self._entry(client)
        entry.connections += 1
        if self.closing:
            return REPLY_SHUTDOWN
        if self.active > self.limit:
            return "421 4.7.0 Too many connections, try again later"
        if entry.connections > self.per_client:
            return "421 4.7.0 Too many connections from your address, try again later"
        return None

    def leave(self, client: str = "") -> None:
        self.active -= 1
        entry = self.clients.get(client)
        if entry is not None:
            entry.connections -= 1
            if entry.connections <= 0 and not entry.unknown:
                del self.clients[client]
        if self.active <= 0:
            self.idle.set()

    def probing(self, client: str) -> bool:
        """True once this address has asked for too many unknown recipients lately."""
        entry = self.clients.get(client)
        if entry is None:
            return False
        if time.monotonic() - entry.window_start > self.probe_window:
            entry.unknown = 0
        return entry.unknown >= self.unknown_per_client

    def unknown_recipient(self, client: str) -> None:
        entry = self._entry(client)
        now = time.monotonic()
        if not entry.unknown or now - entry.window_start > self.probe_window:
            entry.unknown, entry.window_start = 0, now
        entry.unknown += 1

    def _entry(self, client: str) -> _Client:
        entry = self.clients.get(client)
        if entry is None:
            if len(self.clients) >= self.max_tracked:  # forget the oldest idle address
                for key, old in self.clients.items():
                    if old.connections <= 0:
                        del self.clients[key]
                        break
            entry = self.clients[client] = _Client()
        return entry


class TlsContexts:
    """The STARTTLS context, built from the configured files and rebuilt when they change,
    so a renewed certificate is used without a restart."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._cert, self._key = cert, key
        self._stamp: tuple[int, int, int, int] | None = None
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        cert, key = self._cert.stat(), self._key.stat()
        stamp = (cert.st_mtime_ns, cert.st_size, key.st_mtime_ns, key.st_size)
        if stamp != self._stamp or self._context is None:
            try:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(self._cert, self._key)
            except (OSError, ssl.SSLError):
                if self._context is None:
                    raise
                log.exception("reloading the TLS certificate failed; keeping the old one")
                return self._context
            self._context, self._stamp = context, stamp
        return self._context


class DeliveryHandler:
    """The service's decisions: who may send, who receives, and storing before `250`."""

    def __init__(
        self,
        delivery: Delivery,
        limits: SmtpLimits,
        gate: ConnectionGate,
    ) -> None:
        self._delivery = delivery
        self._limits = limits
        self._gate = gate

    def mail(self, event: MailFrom) -> str:
        if self._gate.closing:
            return REPLY_SHUTDOWN
        if not _storable(event.address):
            # Refused now, for good: accepting it would fail every DATA with a temporary error.
            return "553 5.1.7 Sender address has characters that cannot be stored"
        return "250 2.1.0 OK"

    async def rcpt(self, address: str, client: str) -> tuple[Recipient | None, str]:
        if self._gate.probing(client):
            return None, "421 4.7.0 Too many unknown recipients from your address, closing"
        try:
            recipient = await self._delivery.resolve(address)
        except Exception:
            log.exception("recipient lookup failed")
            return None, "451 4.3.0 Temporary lookup failure, try again later"
        if recipient is None:
            self._gate.unknown_recipient(client)
            return None, "550 5.1.1 No such mailbox here"
        if recipient.message_count >= self._limits.mailbox_message_cap:
            return None, "452 4.2.2 Mailbox full, try again later"
        return recipient, "250 2.1.5 OK"

    async def data(self, message: Message[Recipient]) -> str:
        boxes = {r.mailbox_id: r for r in message.recipients}  # one copy per mailbox
        try:
            ids = await self._delivery.deliver(message.sender, list(boxes.values()), message.data)
        except WriterClosed:
            return REPLY_SHUTDOWN
        except NotStored as exc:
            return exc.reply
        except Exception:
            log.exception("storing message failed")
            return "451 4.3.0 Could not store the message, try again later"
        return f"250 2.0.0 OK queued as {ids[0]}"


def _storable(address: str) -> bool:
    """No control characters and nothing that is not text (8-bit bytes arrive as surrogates)."""
    return not any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in address)


class SessionClock:
    """The time bounds of every session of a process, checked by one periodic callback.

    Cheaper than timer objects per connection and per message (a new connection per
    message would otherwise create and cancel three timers each time); a bound fires at
    most one tick late, the tick being a small fraction of the shortest bound.
    """

    def __init__(self, limits: SmtpLimits) -> None:
        shortest = min(limits.timeout, limits.session_timeout, limits.data_timeout)
        self.tick = min(1.0, max(0.02, shortest / 10))
        self._sessions: set[SmtpSession] = set()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, session: SmtpSession, loop: asyncio.AbstractEventLoop) -> None:
        self._sessions.add(session)
        if self._handle is None:
            self._handle = loop.call_later(self.tick, self._check, loop)

    def discard(self, session: SmtpSession) -> None:
        self._sessions.discard(session)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        now = loop.time()
        for session in list(self._sessions):
            session.check_clocks(now)
        if self._sessions:
            self._handle = loop.call_later(self.tick, self._check, loop)


_NOT_STARTED = object()


@types.coroutine
def _rest_of(coro: Coroutine[Any, Any, None], yielded: Any) -> Generator[Any, Any, None]:
    """Run a coroutine that has already suspended once (on `yielded`) under a Task.

    A decision is first run eagerly, in the protocol callback: an inline SQLite look-up or
    a decision that needs no wait costs no Task and no trip through the event loop. Only
    one that really waits (a commit, a PostgreSQL query) is handed to a Task, here.
    """
    while True:
        try:
            yield yielded
        except BaseException as exc:  # cancellation: into the coroutine, as a Task would
            try:
                yielded = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                yielded = coro.send(None)
            except StopIteration:
                return


class SmtpSession(asyncio.Protocol):
    """One connection: feeds the machine, runs the decisions it asks for, keeps the clocks.

    Three clocks: idle (no byte for `timeout`), DATA (`data_timeout` from 354 to the end)
    and the whole session (`session_timeout`). Any byte resets only the first, so a client
    sending one byte at a time is still dropped by the other two. A shared SessionClock
    checks them.
    """

    def __init__(
        self,
        handler: DeliveryHandler,
        limits: SmtpLimits,
        gate: ConnectionGate,
        protocol_limits: ProtocolLimits,
        tls: TlsContexts | None,
        clock: SessionClock | None = None,
    ) -> None:
        self._handler = handler
        self._limits = limits
        self._gate = gate
        self._tls = tls
        self._clock = clock if clock is not None else SessionClock(limits)
        self.conn: ServerConnection[Recipient] = ServerConnection(protocol_limits)
        self.transport: asyncio.Transport | None = None
        self._client = ""
        self._admitted = False
        self._busy = False  # a decision (look-up, commit, handshake) is running
        self._reading_paused = False
        self._writing_paused = False
        self._last_input = 0.0
        self._session_deadline = 0.0
        self._data_deadline: float | None = None
        self._eof = False
        self._expire_after_decision: str | None = None
        self._loop = asyncio.get_running_loop()

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else ""
        refusal = self._gate.enter(self._client)
        self._admitted = True
        if refusal is not None:
            self.conn.refuse_connection(refusal)
            self._flush()
            return
        self.conn.greet("ephemail ESMTP")
        self._last_input = now = self._loop.time()
        self._session_deadline = now + self._limits.session_timeout
        self._clock.add(self, self._loop)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._last_input = self._loop.time()
        self.conn.receive_data(data)
        self._drive()

    def eof_received(self) -> bool | None:
        """The client sent all it will: answer what it sent (a decision may still be
        running), then close."""
        self._eof = True
        self._close_if_done()
        return True

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._clock.discard(self)
        self.conn.close_with("421 4.4.2 Connection lost")
        self.conn.data_to_send()
        self.transport = None
        if self._admitted:
            self._admitted = False
            self._gate.leave(self._client)

    # --- driving the machine --------------------------------------------------------------

    def _drive(self) -> None:
        if self.transport is None:
            return
        if self._busy:  # input waits behind the decision; stop reading past the backlog
            self._update_reading()
            return
        conn = self.conn
        lookup = False
        while (event := conn.next_event()) is not None:
            if isinstance(event, MailFrom):
                conn.answer(self._handler.mail(event))
                continue
            if isinstance(event, StartTls):
                # Before the client's handshake can arrive and be read as a command.
                self._busy = True
                self.transport.pause_reading()
                self._loop.create_task(self._run_later(self._start_tls()))
                break
            decision = self._decide(event)
            try:
                yielded = decision.send(None)
            except StopIteration:
                if self.transport is None:  # lost while deciding
                    return
                continue  # decided without waiting: on to the next command
            self._busy = True
            lookup = isinstance(event, RcptTo)
            self._loop.create_task(self._run_later(decision, yielded))
            break
        if not lookup:
            # RFC 2920 3.2: replies to a pipelined group may be held while it is processed
            # (a recipient look-up is brief), but go out before we wait for the client or
            # for a commit. One write per group instead of one per reply.
            self._flush()
        self._watch_data()
        self._update_reading()
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self._eof and not self._busy and self.transport is not None:
            self._flush()
            self.transport.close()

    async def _run_later(
        self, decision: Coroutine[Any, Any, None], yielded: Any = _NOT_STARTED
    ) -> None:
        """The rest of a decision that had to wait, then the input that waited behind it."""
        try:
            if yielded is _NOT_STARTED:
                await decision
            else:
                await _rest_of(decision, yielded)
        except Exception:
            log.exception("SMTP session failed")
            self.conn.close_with("421 4.3.0 Internal error, closing connection")
        finally:
            self._busy = False
            self._last_input = self._loop.time()  # waiting on us is not the client idling
        if self._expire_after_decision is not None:
            self.conn.close_with(self._expire_after_decision)
        self._drive()
        self._flush()

    async def _decide(self, event: RcptTo | Message[Recipient]) -> None:
        conn = self.conn
        try:
            if isinstance(event, RcptTo):
                recipient, reply = await self._handler.rcpt(event.address, self._client)
                if conn.pending is event:
                    if recipient is None:
                        conn.answer(reply)
                    else:
                        conn.accept_recipient(recipient, reply)
            else:
                reply = await self._handler.data(event)
                if conn.pending is event:
                    conn.answer(reply)
        except Exception:
            log.exception("SMTP session failed")
            conn.close_with("421 4.3.0 Internal error, closing connection")

    async def _start_tls(self) -> None:
        assert self._tls is not None and self.transport is not None
        try:
            context = self._tls.context()
            transport = await self._loop.start_tls(
                self.transport, self, context, server_side=True, ssl_handshake_timeout=30
            )
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.info("STARTTLS handshake failed: %s", exc)
            if self.transport is not None:
                self.transport.abort()
            return
        if transport is None:
            return
        self.transport = transport
        self.conn.tls_started()
        self._reading_paused = False

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        out = self.conn.data_to_send()
        if out:
            transport.write(out)
        if self.conn.closing:
            transport.close()

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or self.conn.closing or isinstance(self.conn.pending, StartTls):
            return
        pause = self._writing_paused or self.conn.buffered > BACKLOG_LIMIT
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    # --- clocks ---------------------------------------------------------------------------

    def _watch_data(self) -> None:
        if self.conn.state is State.DATA:
            if self._data_deadline is None:
                self._data_deadline = self._loop.time() + self._limits.data_timeout
        elif self._data_deadline is not None:
            self._data_deadline = None

    def check_clocks(self, now: float) -> None:
        """Called by the SessionClock: close a session past any of its bounds."""
        if self.transport is None or self.conn.closing:
            return
        if now >= self._session_deadline:
            self._expire("421 4.4.2 Session time limit exceeded, closing connection")
        elif self._data_deadline is not None and now >= self._data_deadline:
            self._data_deadline = None
            self._expire("421 4.4.2 DATA time limit exceeded, closing connection")
        elif not self._busy and now - self._last_input >= self._limits.timeout:
            self._expire("421 4.4.2 Idle too long, closing connection")

    def _expire(self, reply: str) -> None:
        if self._busy:  # a commit in progress: its reply first, then close
            self._expire_after_decision = reply
            return
        self.conn.close_with(reply)
        self._flush()


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

    def make() -> SmtpSession:
        return SmtpSession(handler, limits, gate, protocol_limits, tls, clock)

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
