"""uvicorn's HTTP protocol with our edges: JSON for bad requests, bounded read times.

Stock uvicorn answers a request it cannot parse (a garbage request line, a header or URL
past the parser's limits) with `400 text/plain "Invalid HTTP request received."`, and waits
forever for headers that never finish or for a body shorter than its `Content-Length`. This
subclass answers those in the error envelope, refuses a request line and headers over
`MAX_HEAD` bytes (431: the parser would take any size), and gives each request
`read_timeout` seconds from its first byte to deliver its headers, then as long again for
its body, before a `408` closes the connection. A connection that sends nothing at all is
closed after `IDLE_FACTOR` times that: a generous bound, since a busy client (or a test
sharing the server's event loop) may connect well before it writes. Everything else is
uvicorn's own code.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ephemail.api.respond import closing_error

MAX_HEAD = 64 * 1024  # request line and headers; the parser itself has no limit
IDLE_FACTOR = 10


class _HeadTooLarge(Exception):
    pass


class EnvelopeProtocol(HttpToolsProtocol):
    read_timeout = 5.0  # set per service by protocol_class()

    # One timer per connection, re-aimed lazily: a request moves `_deadline` (a float) and
    # the timer, when it fires early, sleeps again until the deadline. A TimerHandle made and
    # cancelled twice per request cost more than the rest of this class on the hot reads.
    _deadline: float | None = None
    _timer: asyncio.TimerHandle | None = None
    _began = False  # a request's first bytes have arrived and its headers have not ended
    _in_head = True  # the bytes arriving now belong to a request line or headers
    # Sizes, counted per chunk rather than per parser callback: `_head_bytes` is what whole
    # chunks added to the head (a lower bound: refusing on it is never wrong), `_carry` the
    # chunk in which the head began after another request ended (its share is unknown, so
    # it counts whole in the upper bound), `_chunk` the chunk being parsed now.
    _head_bytes = 0
    _carry = 0
    _chunk = 0
    _began_mid_chunk = False
    _head_too_large = False
    # The parser's callbacks only note that a deadline is due (a head began, or a body is
    # awaited); it is set once the chunk is parsed, so a request that arrives whole in one
    # chunk (most do) arms nothing at all. Same instant: the chunk is parsed synchronously.
    _arm_due = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(IDLE_FACTOR)  # a connection that never sends a request line is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._chunk = len(data)
        self._began_mid_chunk = False
        super().data_received(data)  # headers that end in this chunk reset the count
        if self._in_head:
            if self._began_mid_chunk:
                self._carry = self._chunk
            else:
                self._head_bytes += self._chunk
            # Still in the head past the bound: memory held is at most MAX_HEAD and a chunk.
            if self._head_bytes > MAX_HEAD and not self.transport.is_closing():
                self._refuse(431)
        if self._arm_due:
            self._arm_due = False
            self._arm()

    def send_400_response(self, msg: str) -> None:
        self._refuse(431 if self._head_too_large else 400)

    def _refuse(self, status: int) -> None:
        self._arm_due = False
        self._disarm()
        self.transport.write(closing_error(status))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began = self._arm_due = True

    def on_headers_complete(self) -> None:
        # A whole head can arrive in one chunk; only when this chunk and the earlier ones
        # could hold more than the bound is the head measured exactly.
        bound = self._head_bytes + self._carry + self._chunk
        if bound > MAX_HEAD and self._exact_head_size() > MAX_HEAD:
            self._head_too_large = True
            raise _HeadTooLarge  # the parser stops; uvicorn calls send_400_response
        self._began = self._in_head = False
        self._head_bytes = self._carry = 0
        super().on_headers_complete()
        if not self.pipeline:  # a queued request is not read until its turn
            self._arm_due = True  # now the body's turn; disarmed when the message completes

    def _exact_head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def on_message_complete(self) -> None:
        self._in_head = True  # whatever comes next on this connection is the next request
        self._began_mid_chunk = True
        self._arm_due = False
        self._deadline = None  # disarmed (as `_disarm`, inline: twice per request)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._deadline = None
        super().on_response_complete()

    def _arm(self, factor: float = 1.0) -> None:
        deadline = self._deadline = self.loop.time() + self.read_timeout * factor
        timer = self._timer
        if timer is not None:
            if timer.when() <= deadline:
                return  # it fires first and sleeps on until the deadline
            timer.cancel()
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _disarm(self) -> None:
        self._deadline = None  # the timer, if any, finds nothing to do when it fires

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._on_timer)
            return
        self._deadline = None
        self._read_timed_out()

    def _read_timed_out(self) -> None:
        """Headers or body stalled: answer 408 unless a response is already under way."""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            if cycle.response_started:
                return  # the app answered without reading the body; keep-alive rules apply
            self.transport.write(closing_error(408))
        elif self._began:
            self.transport.write(closing_error(408))
        self.transport.close()


def protocol_class(read_timeout: float) -> type[EnvelopeProtocol]:
    """A protocol class bound to this service's read timeout (uvicorn takes a class)."""
    return type("EnvelopeProtocol", (EnvelopeProtocol,), {"read_timeout": read_timeout})
