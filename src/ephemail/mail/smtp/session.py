"""The SMTP receiver: an asyncio.Protocol around the sans-IO machine in protocol.py.

This module owns the socket's transport and a session's clocks and runs the service's
decisions (decisions.py); the protocol itself (what each command means, reply order,
limits on lines and messages) lives in the machine.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import types
from collections.abc import Coroutine, Generator
from typing import Any, cast

from ephemail.core import metrics
from ephemail.mail.smtp.clock import SessionClock
from ephemail.mail.smtp.decisions import DeliveryHandler
from ephemail.mail.smtp.events import (
    CHUNK,
    DATA,
    MailFrom,
    Message,
    ProtocolLimits,
    RcptTo,
    StartTls,
)
from ephemail.mail.smtp.gate import ConnectionGate, SmtpLimits
from ephemail.mail.smtp.protocol import ServerConnection
from ephemail.mail.smtp.tls import TlsContexts
from ephemail.store.models import Recipient

log = logging.getLogger("ephemail.mail.smtp")  # the whole SMTP front logs under one name

BACKLOG_LIMIT = 64 * 1024  # pipelined input held behind a pending decision before we stop reading


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
        loop: asyncio.AbstractEventLoop | None = None,
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
        self._input_seen = False
        self._eager = handler.eager
        self._data_timeout = limits.data_timeout
        self._session_deadline = 0.0
        self._data_deadline: float | None = None
        self._eof = False
        self._expire_after_decision: str | None = None
        # Given by the factory: asking asyncio for the running loop costs a getpid() call.
        self._loop = loop if loop is not None else asyncio.get_running_loop()

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else ""
        refusal = self._gate.enter(self._client)
        self._admitted = True
        if refusal is not None:
            metrics.smtp().session("refused")
            self.conn.refuse_connection(refusal)
            self._flush()
            return
        metrics.smtp().session("accepted")
        self.conn.greet("ephemail ESMTP")
        self._last_input = now = self._loop.time()
        self._session_deadline = now + self._limits.session_timeout
        self._clock.add(self, self._loop)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._input_seen = True  # the clock's next tick takes it as the time of last input
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
        transport = self.transport
        if transport is None:
            return
        conn = self.conn
        if self._busy:  # input waits behind the decision; stop reading past the backlog
            self._update_reading()
            return
        lookup = False
        while (event := conn.next_event()) is not None:
            kind = type(event)
            if kind is MailFrom:
                conn.answer(self._handler.mail(event))  # type: ignore[arg-type]
                continue
            if kind is RcptTo and self._eager:  # an inline look-up: no coroutine, no Task
                self._rcpt_decided(*self._handler.rcpt_now(event.address, self._client))  # type: ignore[union-attr]
                continue
            if kind is StartTls:
                # Before the client's handshake can arrive and be read as a command.
                self._busy = True
                transport.pause_reading()
                self._loop.create_task(self._run_later(self._start_tls()))
                break
            decision = self._decide(event)  # type: ignore[arg-type]
            lookup = kind is RcptTo
            if not self._eager:  # its first await may need a current Task
                self._busy = True
                self._loop.create_task(self._run_later(decision))
                break
            try:
                yielded = decision.send(None)
            except StopIteration:
                if self.transport is None:  # lost while deciding
                    return
                lookup = False
                continue  # decided without waiting: on to the next command
            self._busy = True
            self._loop.create_task(self._run_later(decision, yielded))
            break
        if not lookup:
            # RFC 2920 3.2: replies to a pipelined group may be held while it is processed
            # (a recipient look-up is brief), but go out before we wait for the client or
            # for a commit. One write per group instead of one per reply.
            self._flush()
        state = conn.state
        if state is DATA or state is CHUNK:
            if self._data_deadline is None:
                # From the last tick, one tick on: never early, at most two ticks late.
                clock = self._clock
                self._data_deadline = clock.now + clock.tick + self._data_timeout
        elif self._data_deadline is not None:
            self._data_deadline = None
        # Not busy, the machine took in all the input it could: only a decision now pending,
        # or a pause to lift, can change whether we read.
        if self._busy or self._reading_paused or self._writing_paused:
            self._update_reading()
        if self._eof:
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
                    self._rcpt_decided(recipient, reply)
            else:
                reply = await self._handler.data(event)
                if conn.pending is event:
                    conn.answer(reply)
        except Exception:
            log.exception("SMTP session failed")
            conn.close_with("421 4.3.0 Internal error, closing connection")

    def _rcpt_decided(self, recipient: Recipient | None, reply: str) -> None:
        """The pending RCPT's outcome: the recipient accepted, or the refusal answered."""
        if recipient is None:
            self.conn.answer(reply)
        else:
            self.conn.accept_recipient(recipient, reply)

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

    def check_clocks(self, now: float) -> None:
        """Called by the SessionClock: close a session past any of its bounds.

        Input is not timed as it arrives (a clock read per read): a tick that finds some
        takes its own time as the last input's, so the idle bound fires at most a tick late.
        """
        if self.transport is None or self.conn.closing:
            return
        if self._input_seen:
            self._input_seen = False
            self._last_input = now
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
