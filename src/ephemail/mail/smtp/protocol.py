"""The receive side of SMTP as a sans-IO state machine: bytes in, events and replies out.

No sockets and no asyncio here (the way h11 and wsproto do HTTP and WebSocket): the
adapter in session.py feeds what it reads to `receive_data`, asks `next_event` what the
service must decide, answers with `answer`, and writes whatever `data_to_send` returns.

Replies come out in command order by construction: while a decision is pending the
machine reads no further input, so pipelined groups (RFC 2920) are answered in order even
while a commit is in progress.

Memory per session is bounded whatever the client sends:

- a command line: at most `line_limit(...)` octets are kept; a longer line is skipped to
  its end while counting and answered `500 5.5.2`;
- DATA: at most 1.5 × `max_message_size` octets are kept while the message arrives
  (dot-stuffing can add at most one octet per three); at the end the unstuffed copy is
  made before the stuffed buffer is freed (2.5 × for an instant);
  beyond the limit, or after a line longer than `data_line_limit`, only the last four
  octets are kept (to find the end) and the message is refused at its end;
- BDAT (CHUNKING, RFC 3030): at most `max_message_size` octets in all, checked against each
  chunk's declared size before any of it is kept; a refused chunk is read past, not kept;
- pipelined input waiting behind a pending decision: the adapter stops reading once
  `buffered` exceeds its backlog limit.
"""

from __future__ import annotations

from ephemail.mail.smtp import events
from ephemail.mail.smtp.commands import COMMANDS, Commands


class ServerConnection(Commands[events.R]):
    """One SMTP session, server side. `R` is what the service keeps per accepted recipient.

    The adapter's side, reading command lines and reading DATA are here; what each command
    means is in Commands (commands.py).
    """

    def __init__(self, limits: events.ProtocolLimits, *, tls: bool = False) -> None:
        self.limits = limits
        self.state = events.State.GREETING
        self.tls = tls
        self.extended = False
        self.closing = False  # a 221/421 is queued; close once it is written
        self.pending = None
        self._in = bytearray()
        self._pos = 0
        self._out = []
        self._skipping = False  # inside an over-long command line
        self._tx = events.Transaction()
        self._unknown_rcpts = 0
        self._unrecognized = 0
        # DATA
        self._body = bytearray()
        self._dots = 0
        self._line = 0  # length of the current DATA line so far
        self._too_big = False
        self._too_long = False
        # BDAT
        self._chunk_left = 0
        self._chunk_last = False
        self._chunk_refusal: str | None = None
        self._chunk_return = events.State.READY

    # --- the adapter's side ---------------------------------------------------------------

    def greet(self, ident: str = "ESMTP") -> None:
        self._reply(f"220 {self.limits.hostname} {ident}")

    def refuse_connection(self, reply: str) -> None:
        """Send one reply (a 421) and nothing more."""
        self._reply(reply)
        self._close()

    def receive_data(self, data: bytes) -> None:
        if self.state is not events.State.CLOSED:
            self._in += data

    @property
    def buffered(self) -> int:
        """Input held but not yet processed (pipelined behind a pending decision)."""
        return len(self._in) - self._pos

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> events.Decision[events.R] | None:
        """Process input until the service must decide something, or input runs out."""
        while self.pending is None and self.state is not events.State.CLOSED:
            if self.state is events.State.DATA:
                if not self._data_step():
                    break
                continue
            if self.state is events.State.CHUNK:
                if not self._chunk_step():
                    break
                continue
            line = self._next_line()
            if line is None:
                break
            self._command(line)
        self._compact()
        return self.pending

    def answer(self, reply: str) -> None:
        """The service's reply to the pending event; a 2xx applies it, a 421 closes."""
        event = self.pending
        assert event is not None, "no decision is pending"
        self.pending = None
        ok = reply.startswith("2")
        if isinstance(event, events.MailFrom) and ok:
            self._tx = events.Transaction(sender=event.address)
            self.state = events.State.MAIL
        elif isinstance(event, events.RcptTo) and reply.startswith("550"):
            self._unknown_rcpts += 1
        elif isinstance(event, events.Message):
            self._end_transaction()
        self._reply(reply)

    def accept_recipient(self, value: events.R, reply: str = "250 2.1.5 OK") -> None:
        assert isinstance(self.pending, events.RcptTo), "no RCPT is pending"
        self._tx.recipients.append(value)
        self._tx.accepted += 1
        self.pending = None
        self._reply(reply)

    def tls_started(self) -> None:
        """RFC 3207 4.2: forget everything learnt before the handshake; EHLO again."""
        assert isinstance(self.pending, events.StartTls)
        self.pending = None
        self.tls = True
        self.extended = False
        self._end_transaction()
        self.state = events.State.GREETING
        self._in.clear()
        self._pos = 0

    def close_with(self, reply: str) -> None:
        """A time-out or shutdown: one last reply, then the channel closes."""
        if self.state is events.State.CLOSED:
            return
        self.pending = None
        self._reply(reply)
        self._close()

    # --- input ----------------------------------------------------------------------------

    def _compact(self) -> None:
        if self._pos and (self._pos >= len(self._in) or self._pos > 65536):
            del self._in[: self._pos]
            self._pos = 0

    def _next_line(self) -> bytes | None:
        """The next complete command line without its line ending, or None for more input.

        A line longer than any command may be is dropped as it arrives; its end is answered
        with 500, so replies stay one per line and in order.
        """
        while True:
            end = self._in.find(b"\n", self._pos)
            if end < 0:
                if len(self._in) - self._pos > events.ESMTP_LINE_LIMIT:
                    self._skipping = True
                    self._in.clear()
                    self._pos = 0
                return None
            if self._skipping:
                self._skipping = False
                self._pos = end + 1
                self._reply(events.REPLY_TOO_LONG)
                continue
            line = bytes(self._in[self._pos : end])
            self._pos = end + 1
            return line[:-1] if line.endswith(b"\r") else line

    def _command(self, line: bytes) -> None:
        verb, _, rest = line.partition(b" ")
        name = verb.upper()
        limit = events.ESMTP_LINE_LIMIT if self.extended and name in (b"MAIL", b"RCPT") else 0
        if len(line) + 2 > (limit or events.COMMAND_LINE_LIMIT):
            self._reply(events.REPLY_TOO_LONG)
            return
        handler = COMMANDS.get(name)
        if handler is None:
            self._unrecognized += 1
            if self._unrecognized >= events.MAX_UNRECOGNIZED:
                self._reply(events.REPLY_UNRECOGNIZED_LAST)
                self._close()
            else:
                self._reply(events.REPLY_UNRECOGNIZED)
            return
        handler(self, rest.decode("utf-8", "surrogateescape").strip(" "))

    # --- DATA -----------------------------------------------------------------------------

    def _data_step(self) -> bool:
        """Move buffered input into the message; True once the message has ended."""
        if self.buffered == 0:
            return False
        chunk = bytes(self._in[self._pos :])
        self._in.clear()
        self._pos = 0
        data = self._body
        old = len(data)
        data += chunk
        end = data.find(events.END_OF_DATA, max(0, old - 4))
        if end >= 0:
            self._in += data[end + 5 :]  # pipelined commands after the message
            del data[end + 2 :]
            chunk = chunk[: max(0, end + 2 - old)]
        self._count_lines(chunk)
        if not (self._too_big or self._too_long):
            self._dots += data.count(b"\r\n.", max(0, old - 2))
            self._too_big = len(data) - 2 - self._dots > self.limits.max_message_size
        if end >= 0:
            self._finish_data(data)
            return True
        if self._too_big or self._too_long:
            del data[:-4]  # only what could be the start of the end
        return False

    def _count_lines(self, chunk: bytes) -> None:
        """Track the longest DATA line without keeping it (LF-separated, as senders vary)."""
        limit = self.limits.data_line_limit
        first = chunk.find(b"\n")
        if first < 0:
            self._line += len(chunk)
        else:
            longest = self._line + first
            last = chunk.rfind(b"\n")
            if last - first > limit:
                longest = max(longest, *map(len, chunk[first + 1 : last].split(b"\n")))
            self._line = len(chunk) - last - 1
            if longest > limit:
                self._too_long = True
        if self._line > limit:
            self._too_long = True

    # --- BDAT -----------------------------------------------------------------------------

    def _chunk_step(self) -> bool:
        """Move buffered input into the chunk (or past it, if refused); True once it ended."""
        take = min(len(self._in) - self._pos, self._chunk_left)
        if take:
            if self._chunk_refusal is None:
                piece = bytes(self._in[self._pos : self._pos + take])
                self._count_lines(piece)
                self._body += piece
            self._pos += take
            self._chunk_left -= take
        if self._chunk_left:
            return False
        self._end_chunk()
        return True

    def _end_chunk(self) -> None:
        if self._chunk_refusal is not None:
            self.state = self._chunk_return
            self._reply(self._chunk_refusal)
            return
        self.state = events.State.MAIL
        if not self._chunk_last:
            self._reply(f"250 2.0.0 Chunk received, {len(self._body)} octets in all")
            return
        raw, self._body = bytes(self._body), bytearray()
        if self._too_long:
            self._end_transaction()
            self._reply(events.REPLY_TOO_LONG)
            return
        tx = self._tx
        self.pending = events.Message(tx.sender, tx.recipients, raw)

    def _finish_data(self, data: bytearray) -> None:
        self._body = bytearray()
        self.state = events.State.MAIL
        if self._too_long:
            self._end_transaction()
            self._reply(events.REPLY_TOO_LONG)
            return
        unstuffed = data.replace(b"\r\n.", b"\r\n")
        data.clear()  # the stuffed copy goes before the final one is made
        raw = bytes(memoryview(unstuffed)[2:])
        del unstuffed
        if self._too_big or len(raw) > self.limits.max_message_size:
            self._end_transaction()
            self._reply(events.REPLY_TOO_BIG)
            return
        tx = self._tx
        self.pending = events.Message(tx.sender, tx.recipients, raw)
