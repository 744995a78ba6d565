"""The receive side of SMTP as a sans-IO state machine: bytes in, events and replies out.

No sockets and no asyncio here (the way h11 and wsproto do HTTP and WebSocket): the
adapter in mail/smtp.py feeds what it reads to `receive_data`, asks `next_event` what the
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
- pipelined input waiting behind a pending decision: the adapter stops reading once
  `buffered` exceeds its backlog limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, auto
from functools import lru_cache
from typing import Generic, TypeVar

R = TypeVar("R")

COMMAND_LINE_LIMIT = 512  # RFC 5321 4.5.3.1.4, CRLF included
ESMTP_LINE_LIMIT = 1024  # MAIL and RCPT after EHLO: room for the parameters we advertise
DATA_LINE_LIMIT = 256 * 1024  # far beyond RFC 5321's 1,000: real senders break that rule
MAX_UNRECOGNIZED = 5  # the fifth unknown command ends the session
MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3 path limit, brackets excluded
END_OF_DATA = b"\r\n.\r\n"

REPLY_TOO_LONG = "500 5.5.2 Line too long"
REPLY_TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"
REPLY_TOO_MANY_RCPT = "452 4.5.3 Too many recipients"
REPLY_PROBING = "421 4.7.0 Too many unknown recipients, closing connection"
REPLY_UNRECOGNIZED = "500 5.5.1 Command unrecognized"
REPLY_UNRECOGNIZED_LAST = "502 5.5.1 Too many unrecognized commands, goodbye"
REPLY_NO_TLS = "454 4.7.0 TLS not available"


@dataclass(frozen=True)
class ProtocolLimits:
    hostname: str
    max_message_size: int
    max_recipients: int
    max_unknown_recipients: int = 20
    data_line_limit: int = DATA_LINE_LIMIT
    tls_available: bool = False


class State(Enum):
    GREETING = auto()  # connected, no HELO/EHLO yet
    READY = auto()  # greeted, no transaction
    MAIL = auto()  # MAIL accepted, collecting RCPTs
    DATA = auto()  # reading the message
    CLOSED = auto()  # a 221 or 421 was queued: read nothing more


@dataclass(frozen=True)
class MailFrom:
    """MAIL FROM: accept with a 2xx answer, refuse with anything else."""

    address: str
    size: int | None
    params: dict[str, str]


@dataclass(frozen=True)
class RcptTo:
    """RCPT TO: `accept_recipient(value)` or `answer(refusal)`."""

    address: str


@dataclass(frozen=True)
class Message(Generic[R]):
    """A complete message, unstuffed; answer once it is stored (or not)."""

    sender: str
    recipients: list[R]
    data: bytes


@dataclass(frozen=True)
class StartTls:
    """`220` is queued: send it, do the handshake, then call `tls_started`."""


@dataclass
class _Transaction(Generic[R]):
    sender: str = ""
    recipients: list[R] = field(default_factory=list)
    accepted: int = 0


_PARAM = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e]+))?\Z")


class ServerConnection(Generic[R]):
    """One SMTP session, server side. `R` is what the service keeps per accepted recipient."""

    def __init__(self, limits: ProtocolLimits, *, tls: bool = False) -> None:
        self.limits = limits
        self.state = State.GREETING
        self.tls = tls
        self.extended = False
        self.closing = False  # a 221/421 is queued; close once it is written
        self.pending: MailFrom | RcptTo | Message[R] | StartTls | None = None
        self._in = bytearray()
        self._pos = 0
        self._out: list[bytes] = []
        self._skipping = False  # inside an over-long command line
        self._tx: _Transaction[R] = _Transaction()
        self._unknown_rcpts = 0
        self._unrecognized = 0
        # DATA
        self._body = bytearray()
        self._dots = 0
        self._line = 0  # length of the current DATA line so far
        self._too_big = False
        self._too_long = False

    # --- the adapter's side ---------------------------------------------------------------

    def greet(self, ident: str = "ESMTP") -> None:
        self._reply(f"220 {self.limits.hostname} {ident}")

    def refuse_connection(self, reply: str) -> None:
        """Send one reply (a 421) and nothing more."""
        self._reply(reply)
        self._close()

    def receive_data(self, data: bytes) -> None:
        if self.state is not State.CLOSED:
            self._in += data

    @property
    def buffered(self) -> int:
        """Input held but not yet processed (pipelined behind a pending decision)."""
        return len(self._in) - self._pos

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> MailFrom | RcptTo | Message[R] | StartTls | None:
        """Process input until the service must decide something, or input runs out."""
        while self.pending is None and self.state is not State.CLOSED:
            if self.state is State.DATA:
                if not self._data_step():
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
        if isinstance(event, MailFrom) and ok:
            self._tx = _Transaction(sender=event.address)
            self.state = State.MAIL
        elif isinstance(event, RcptTo) and reply.startswith("550"):
            self._unknown_rcpts += 1
        elif isinstance(event, Message):
            self._end_transaction()
        self._reply(reply)

    def accept_recipient(self, value: R, reply: str = "250 2.1.5 OK") -> None:
        assert isinstance(self.pending, RcptTo), "no RCPT is pending"
        self._tx.recipients.append(value)
        self._tx.accepted += 1
        self.pending = None
        self._reply(reply)

    def tls_started(self) -> None:
        """RFC 3207 4.2: forget everything learnt before the handshake; EHLO again."""
        assert isinstance(self.pending, StartTls)
        self.pending = None
        self.tls = True
        self.extended = False
        self._end_transaction()
        self.state = State.GREETING
        self._in.clear()
        self._pos = 0

    def close_with(self, reply: str) -> None:
        """A time-out or shutdown: one last reply, then the channel closes."""
        if self.state is State.CLOSED:
            return
        self.pending = None
        self._reply(reply)
        self._close()

    # --- input ----------------------------------------------------------------------------

    def _close(self) -> None:
        self.state = State.CLOSED
        self.closing = True
        self._in.clear()
        self._pos = 0
        self._body = bytearray()

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
                if len(self._in) - self._pos > ESMTP_LINE_LIMIT:
                    self._skipping = True
                    self._in.clear()
                    self._pos = 0
                return None
            if self._skipping:
                self._skipping = False
                self._pos = end + 1
                self._reply(REPLY_TOO_LONG)
                continue
            line = bytes(self._in[self._pos : end])
            self._pos = end + 1
            return line[:-1] if line.endswith(b"\r") else line

    def _command(self, line: bytes) -> None:
        verb, _, rest = line.partition(b" ")
        name = verb.upper()
        limit = ESMTP_LINE_LIMIT if self.extended and name in (b"MAIL", b"RCPT") else 0
        if len(line) + 2 > (limit or COMMAND_LINE_LIMIT):
            self._reply(REPLY_TOO_LONG)
            return
        handler = _COMMANDS.get(name)
        if handler is None:
            self._unrecognized += 1
            if self._unrecognized >= MAX_UNRECOGNIZED:
                self._reply(REPLY_UNRECOGNIZED_LAST)
                self._close()
            else:
                self._reply(REPLY_UNRECOGNIZED)
            return
        handler(self, rest.decode("utf-8", "surrogateescape").strip(" "))

    # --- commands -------------------------------------------------------------------------

    def _ehlo(self, arg: str) -> None:
        if not arg:
            self._reply("501 5.5.4 Syntax: EHLO hostname")
            return
        self._hello()
        self.extended = True
        self._out.append(_ehlo_reply(self.limits, self.limits.tls_available and not self.tls))

    def _helo(self, arg: str) -> None:
        if not arg:
            self._reply("501 5.5.4 Syntax: HELO hostname")
            return
        self._hello()
        self.extended = False
        self._reply(f"250 {self.limits.hostname}")

    def _hello(self) -> None:
        self._end_transaction()
        self.state = State.READY

    def _mail(self, arg: str) -> None:
        if self.state is State.GREETING:
            self._reply("503 5.5.1 Error: send HELO first")
            return
        if self.state is State.MAIL:
            self._reply("503 5.5.1 Error: nested MAIL command")
            return
        if arg[:5].upper() != "FROM:":
            self._reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        parsed = _path_and_params(arg[5:])
        if parsed is None:
            self._reply("501 5.1.7 Bad sender address syntax")
            return
        address, params = parsed
        if len(address) > MAX_ADDRESS:
            self._reply("553 5.1.7 Sender address too long")
            return
        size: int | None = None
        for key, value in params.items():
            if not self.extended:
                self._reply("555 5.5.4 MAIL parameters need EHLO")
                return
            if key == "SIZE":
                if not value.isdigit() or len(value) > 20:
                    self._reply("501 5.5.4 Syntax: SIZE=<octets>")
                    return
                size = int(value)
                if size > self.limits.max_message_size:
                    self._reply(REPLY_TOO_BIG)
                    return
            elif key == "BODY":
                if value.upper() not in ("7BIT", "8BITMIME"):
                    self._reply("501 5.5.4 BODY must be 7BIT or 8BITMIME")
                    return
            elif key == "SMTPUTF8":
                if value:
                    self._reply("501 5.5.4 SMTPUTF8 takes no value")
                    return
            else:
                self._reply("555 5.5.4 MAIL parameter not recognized")
                return
        self.pending = MailFrom(address, size, params)

    def _rcpt(self, arg: str) -> None:
        if self.state is not State.MAIL:
            self._reply("503 5.5.1 Error: need MAIL command")
            return
        if arg[:3].upper() != "TO:":
            self._reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        parsed = _path_and_params(arg[3:])
        if parsed is None or not parsed[0]:
            self._reply("501 5.1.3 Bad recipient address syntax")
            return
        address, params = parsed
        if params:
            self._reply("555 5.5.4 RCPT parameters not recognized")
            return
        if len(address) > MAX_ADDRESS:
            self._reply("553 5.1.3 Recipient address too long")
            return
        if self._unknown_rcpts >= self.limits.max_unknown_recipients:
            # Recipient probing (username enumeration): no more look-ups in this session.
            self._reply(REPLY_PROBING)
            self._close()
            return
        if self._tx.accepted >= self.limits.max_recipients:
            self._reply(REPLY_TOO_MANY_RCPT)  # no look-up: says nothing about the mailbox
            return
        self.pending = RcptTo(address)

    def _data_command(self, arg: str) -> None:
        if arg:
            self._reply("501 5.5.4 Syntax: DATA")
        elif self.state is not State.MAIL:
            self._reply("503 5.5.1 Error: need MAIL command")
        elif not self._tx.recipients:
            self._reply("503 5.5.1 Error: need RCPT command")
        else:
            self.state = State.DATA
            self._body = bytearray(b"\r\n")  # DATA starts at a line start
            self._dots = 0
            self._line = 0
            self._too_big = self._too_long = False
            self._reply("354 End data with <CR><LF>.<CR><LF>")

    def _rset(self, arg: str) -> None:
        if arg:
            self._reply("501 5.5.4 Syntax: RSET")
            return
        self._end_transaction()
        self._reply("250 2.0.0 OK")

    def _noop(self, arg: str) -> None:
        self._reply("250 2.0.0 OK")

    def _quit(self, arg: str) -> None:
        if arg:
            self._reply("501 5.5.4 Syntax: QUIT")
            return
        self._reply("221 2.0.0 Bye")
        self._close()

    def _vrfy(self, arg: str) -> None:
        if not arg:
            self._reply("501 5.5.4 Syntax: VRFY <address>")
        else:
            self._reply("252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery")

    def _help(self, arg: str) -> None:
        self._reply(
            "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"
            + (" STARTTLS" if self.limits.tls_available else "")
        )

    def _not_implemented(self, arg: str) -> None:
        self._reply("502 5.5.1 Command not implemented")

    def _starttls(self, arg: str) -> None:
        if arg:
            self._reply("501 5.5.4 Syntax: STARTTLS")
        elif not self.limits.tls_available:
            self._reply(REPLY_NO_TLS)
        elif self.tls:
            self._reply("503 5.5.1 Error: TLS already active")
        else:
            # RFC 3207 5: anything pipelined after STARTTLS was sent in the clear and must
            # not be taken as sent under TLS.
            self._in.clear()
            self._pos = 0
            self._reply("220 2.0.0 Ready to start TLS")
            self.pending = StartTls()

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
        end = data.find(END_OF_DATA, max(0, old - 4))
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

    def _finish_data(self, data: bytearray) -> None:
        self._body = bytearray()
        self.state = State.MAIL
        if self._too_long:
            self._end_transaction()
            self._reply(REPLY_TOO_LONG)
            return
        unstuffed = data.replace(b"\r\n.", b"\r\n")
        data.clear()  # the stuffed copy goes before the final one is made
        raw = bytes(memoryview(unstuffed)[2:])
        del unstuffed
        if self._too_big or len(raw) > self.limits.max_message_size:
            self._end_transaction()
            self._reply(REPLY_TOO_BIG)
            return
        tx = self._tx
        self.pending = Message(tx.sender, tx.recipients, raw)

    # --- output ---------------------------------------------------------------------------

    def _end_transaction(self) -> None:
        self._tx = _Transaction()
        if self.state in (State.MAIL, State.DATA):
            self.state = State.READY

    def _reply(self, line: str) -> None:
        if line.startswith("421"):
            self._close()
        self._out.append(_encoded(line))


@lru_cache(maxsize=256)
def _encoded(line: str) -> bytes:
    """A reply on the wire. Nearly all replies are the same few strings: encode each once
    (the cache keeps the recent ones; a reply naming a message id just passes through)."""
    return _clean(line) + b"\r\n"


@lru_cache(maxsize=16)
def _ehlo_reply(limits: ProtocolLimits, starttls: bool) -> bytes:
    """The EHLO answer, built once per configuration rather than once per connection."""
    lines = [
        limits.hostname,
        f"SIZE {limits.max_message_size}",
        "8BITMIME",
        "SMTPUTF8",
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
    ]
    if starttls:
        lines.append("STARTTLS")
    lines.append("HELP")
    last = len(lines) - 1
    return b"".join(
        _clean(f"250{' ' if i == last else '-'}{text}") + b"\r\n" for i, text in enumerate(lines)
    )


def _clean(line: str) -> bytes:
    """Replies are one line of printable ASCII, whatever went into them."""
    if line.isascii() and line.isprintable():
        return line.encode()
    return bytes(c if 32 <= c < 127 else 63 for c in line.encode("ascii", "replace"))


def _path_and_params(text: str) -> tuple[str, dict[str, str]] | None:
    """`<path> PARAM=value ...` → (address, {PARAM: value}); None when it is not a path.

    Lenient like most MTAs: spaces after the colon and a path without brackets are taken;
    a source route (`<@relay:user@host>`) is dropped, as RFC 5321 4.1.1.3 says.
    """
    text = text.lstrip(" ")
    if text.startswith("<"):
        close = _closing_bracket(text)
        if close < 0:
            return None
        address, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(" "):
            return None
    else:
        address, _, rest = text.partition(" ")
        if not address:
            return None
    if address.startswith("@"):
        _, colon, address = address.partition(":")
        if not colon:
            return None
    if " " in address and '"' not in address:
        return None
    params: dict[str, str] = {}
    for word in rest.split():
        match = _PARAM.match(word)
        if match is None:
            return None
        params[match.group(1).upper()] = match.group(2) or ""
    return address, params


def _closing_bracket(text: str) -> int:
    if '"' not in text and "\\" not in text:
        return text.find(">")
    quoted = False
    escaped = False
    for i, char in enumerate(text[1:], 1):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return i
    return -1


_COMMANDS = {
    b"EHLO": ServerConnection._ehlo,
    b"HELO": ServerConnection._helo,
    b"MAIL": ServerConnection._mail,
    b"RCPT": ServerConnection._rcpt,
    b"DATA": ServerConnection._data_command,
    b"RSET": ServerConnection._rset,
    b"NOOP": ServerConnection._noop,
    b"QUIT": ServerConnection._quit,
    b"VRFY": ServerConnection._vrfy,
    b"HELP": ServerConnection._help,
    b"STARTTLS": ServerConnection._starttls,
    b"EXPN": ServerConnection._not_implemented,
    b"AUTH": ServerConnection._not_implemented,
}
