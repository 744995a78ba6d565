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

import re

from ephemail.mail.smtp import events
from ephemail.mail.smtp.commands import COMMANDS, Commands
from ephemail.mail.smtp.events import CHUNK, CLOSED, DATA, GREETING, MAIL, READY

# A plain path: printable ASCII but for < > " \\ (and no @ first: a source route), at most
# MAX_ADDRESS long; the form `path_and_params` reads by its shortcut.
_PATH = rb"<([!#-;=?A-\[\]-~][!#-;=?-\[\]-~]{0,253}|)>"

# The commands of nearly every transaction, in the form nearly every client sends them. One
# match finds the line's end and reads it; anything else (parameters, odd spacing, 8-bit,
# another command, a state where the command is refused) takes the general reading in
# `_command`, and a test holds the two to the same replies and events on any input.
HOT_COMMANDS = re.compile(
    rb"(?i:MAIL FROM:)" + _PATH + rb"\r?\n"
    rb"|(?i:RCPT TO:)" + _PATH + rb"\r?\n"
    rb"|(?i:(DATA|RSET|NOOP|QUIT))\r?\n"
    rb"|(?i:EHLO) ([!-~]+)\r?\n"
)
_HOT_VERBS = {
    b"DATA": Commands._data_command,
    b"RSET": Commands._rset,
    b"NOOP": Commands._noop,
    b"QUIT": Commands._quit,
}


class ServerConnection(Commands[events.R]):
    """One SMTP session, server side. `R` is what the service keeps per accepted recipient.

    The adapter's side, reading command lines and reading DATA are here; what each command
    means is in Commands (commands.py).
    """

    hot_commands: re.Pattern[bytes] | None = HOT_COMMANDS  # None: the general reading only

    def __init__(self, limits: events.ProtocolLimits, *, tls: bool = False) -> None:
        self.limits = limits
        self.state = GREETING
        self.tls = tls
        self.extended = False
        self.closing = False  # a 221/421 is queued; close once it is written
        self.pending = None
        self._in = bytearray()
        self._pos = 0
        self._out = []
        self._skipping = False  # inside an over-long command line
        self._tx = events.NO_TRANSACTION  # type: ignore[assignment]
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
        self._chunk_return = READY

    # --- the adapter's side ---------------------------------------------------------------

    def greet(self, ident: str = "ESMTP") -> None:
        self._reply(f"220 {self.limits.hostname} {ident}")

    def refuse_connection(self, reply: str) -> None:
        """Send one reply (a 421) and nothing more."""
        self._reply(reply)
        self._close()

    def receive_data(self, data: bytes) -> None:
        if self.state is not CLOSED:
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
        buf = self._in
        while self.pending is None:
            state = self.state
            if state is DATA:
                if not self._data_step():
                    break
            elif state is CHUNK:
                if not self._chunk_step():
                    break
            elif state is CLOSED:
                break
            else:  # a command line
                pos = self._pos
                hot = (
                    None
                    if self._skipping or not self.hot_commands
                    else self.hot_commands.match(buf, pos)
                )
                if hot is not None:
                    which = hot.lastindex
                    if which == 3:  # DATA, RSET, NOOP or QUIT, no argument
                        self._pos = hot.end()
                        _HOT_VERBS[hot.group(3).upper()](self, "")
                        continue
                    if which == 4:  # EHLO name
                        self._pos = hot.end()
                        self._ehlo(hot.group(4).decode("ascii"))
                        continue
                    if which == 1 and state is READY:  # MAIL FROM:<path>
                        self._pos = hot.end()
                        self.pending = events.MailFrom(hot.group(1).decode("ascii"), None, {})
                        continue
                    if which == 2 and self._plain_rcpt(hot, state):  # RCPT TO:<path>
                        self._pos = hot.end()
                        self.pending = events.RcptTo(hot.group(2).decode("ascii"))
                        continue
                end = buf.find(b"\n", pos)
                if end < 0:
                    if len(buf) - pos > events.ESMTP_LINE_LIMIT:
                        # Too long for any command: dropped as it arrives; its end gets 500,
                        # so replies stay one per line and in order.
                        self._skipping = True
                        buf.clear()
                        self._pos = 0
                    break
                self._pos = end + 1
                if self._skipping:
                    self._skipping = False
                    self._reply(events.REPLY_TOO_LONG)
                    continue
                if end > pos and buf[end - 1] == 13:  # CR LF, or a bare LF as senders vary
                    end -= 1
                self._command(bytes(buf[pos:end]))
        pos = self._pos
        if pos:
            if pos >= len(buf):
                buf.clear()
                self._pos = 0
            elif pos > 65536:
                del buf[:pos]
                self._pos = 0
        return self.pending

    def answer(self, reply: str) -> None:
        """The service's reply to the pending event; a 2xx applies it, a 421 closes."""
        event = self.pending
        assert event is not None, "no decision is pending"
        self.pending = None
        kind = type(event)
        if kind is events.MailFrom:
            if reply[0] == "2":
                self._tx = events.Transaction(sender=event.address)  # type: ignore[union-attr]
                self.state = MAIL
        elif kind is events.RcptTo:
            if reply.startswith("550"):
                self._unknown_rcpts += 1
        elif kind is events.Message:
            self._end_transaction()
        self._reply(reply)  # a 421 closes

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
        self.state = GREETING
        self._in.clear()
        self._pos = 0

    def close_with(self, reply: str) -> None:
        """A time-out or shutdown: one last reply, then the channel closes."""
        if self.state is CLOSED:
            return
        self.pending = None
        self._reply(reply)
        self._close()

    # --- input ----------------------------------------------------------------------------

    def _plain_rcpt(self, hot: re.Match[bytes], state: events.State) -> bool:
        """Whether a RCPT the hot match read is one the general reading passes on as is."""
        return (
            state is MAIL
            and hot.end(2) > hot.start(2)
            and self._unknown_rcpts < self.limits.max_unknown_recipients
            and self._tx.accepted < self.limits.max_recipients
        )

    def _command(self, line: bytes) -> None:
        verb, _, rest = line.partition(b" ")
        name = verb.upper()
        if len(line) > events.COMMAND_LINE_LIMIT - 2 and (
            len(line) > events.ESMTP_LINE_LIMIT - 2
            or not (self.extended and name in (b"MAIL", b"RCPT"))
        ):
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
        buf = self._in
        pos = self._pos
        if pos >= len(buf):
            return False
        data = self._body
        old = len(data)
        data += buf[pos:] if pos else buf
        buf.clear()
        self._pos = 0
        end = data.find(events.END_OF_DATA, max(0, old - 4))
        if end >= 0:
            if end + 5 < len(data):
                buf += data[end + 5 :]  # pipelined commands after the message
            del data[end + 2 :]
        self._count_lines(data, old, len(data))
        if not (self._too_big or self._too_long):
            self._dots += data.count(b"\r\n.", max(0, old - 2))
            self._too_big = len(data) - 2 - self._dots > self.limits.max_message_size
        if end >= 0:
            self._finish_data(data)
            return True
        if self._too_big or self._too_long:
            del data[:-4]  # only what could be the start of the end
        return False

    def _count_lines(self, data: bytes | bytearray, start: int, stop: int) -> None:
        """Track the longest DATA line of data[start:stop] without keeping it (LF-separated,
        as senders vary)."""
        limit = self.limits.data_line_limit
        first = data.find(b"\n", start, stop) if stop > start else -1
        if first < 0:
            self._line += max(0, stop - start)
        else:
            longest = self._line + first - start
            last = data.rfind(b"\n", start, stop)
            if last - first > limit:
                longest = max(longest, *map(len, data[first + 1 : last].split(b"\n")))
            self._line = stop - last - 1
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
                piece = self._in[self._pos : self._pos + take]
                self._count_lines(piece, 0, take)
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
        self.state = MAIL
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
        self.state = MAIL
        if self._too_long:
            self._end_transaction()
            self._reply(events.REPLY_TOO_LONG)
            return
        if self._dots:
            unstuffed = data.replace(b"\r\n.", b"\r\n")
            data.clear()  # the stuffed copy goes before the final one is made
            raw = bytes(memoryview(unstuffed)[2:])
            del unstuffed
        else:  # nothing to unstuff (the usual case): one copy, not two
            raw = bytes(memoryview(data)[2:])
            data.clear()
        if self._too_big or len(raw) > self.limits.max_message_size:
            self._end_transaction()
            self._reply(events.REPLY_TOO_BIG)
            return
        tx = self._tx
        self.pending = events.Message(tx.sender, tx.recipients, raw)
