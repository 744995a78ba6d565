"""What each SMTP command means: the handlers behind ServerConnection's command table.

A mixin rather than a module of functions so that each handler stays one bound call from
the command loop, as it was before the machine was split: `COMMANDS[verb](self, arg)`.
Handlers change the session's state and queue replies; they never read input (DATA is read
in protocol.py) and never do I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic

from ephemail.mail.smtp.events import (
    CHUNK,
    CLOSED,
    DATA,
    GREETING,
    MAIL,
    MAX_ADDRESS,
    NO_TRANSACTION,
    READY,
    REPLY_NO_TLS,
    REPLY_PROBING,
    REPLY_TOO_BIG,
    REPLY_TOO_MANY_RCPT,
    Decision,
    MailFrom,
    ProtocolLimits,
    R,
    RcptTo,
    StartTls,
    State,
    Transaction,
)
from ephemail.mail.smtp.syntax import bdat_args, ehlo_reply, encoded, path_and_params


class Commands(Generic[R]):
    """The command handlers and the primitives they share with the rest of the machine.

    The state below is set by ServerConnection.__init__; it is declared here because the
    handlers read and change it.
    """

    limits: ProtocolLimits
    state: State
    tls: bool
    extended: bool
    closing: bool
    pending: Decision[R] | None
    _in: bytearray
    _pos: int
    _out: list[bytes]
    _tx: Transaction[R]
    _unknown_rcpts: int
    _body: bytearray
    _dots: int
    _line: int
    _too_big: bool
    _too_long: bool
    _chunk_left: int
    _chunk_last: bool
    _chunk_refusal: str | None
    _chunk_return: State

    # --- commands -------------------------------------------------------------------------

    def _ehlo(self, arg: str) -> None:
        if self._hello("EHLO", arg, extended=True):
            self._out.append(ehlo_reply(self.limits, self.limits.tls_available and not self.tls))

    def _helo(self, arg: str) -> None:
        if self._hello("HELO", arg, extended=False):
            self._reply(f"250 {self.limits.hostname}")

    def _hello(self, verb: str, arg: str, *, extended: bool) -> bool:
        """EHLO and HELO alike: a fresh session state, or 501 without a hostname. Whether
        the caller should send its greeting."""
        if not arg:
            self._reply(f"501 5.5.4 Syntax: {verb} hostname")
            return False
        self._end_transaction()
        self.state = READY
        self.extended = extended
        return True

    def _mail(self, arg: str) -> None:
        self._pend_or_refuse(self._mail_from(arg))

    def _rcpt(self, arg: str) -> None:
        self._pend_or_refuse(self._rcpt_to(arg))

    def _pend_or_refuse(self, outcome: MailFrom | RcptTo | str) -> None:
        """A well-formed MAIL or RCPT waits for the service's decision; otherwise its reply."""
        if isinstance(outcome, str):
            self._reply(outcome)
        else:
            self.pending = outcome

    def _mail_from(self, arg: str) -> MailFrom | str:
        """The MAIL command as an event, or the reply that refuses it."""
        if self.state is GREETING:
            return "503 5.5.1 Error: send HELO first"
        if self.state is MAIL:
            return "503 5.5.1 Error: nested MAIL command"
        if arg[:5].upper() != "FROM:":
            return "501 5.5.4 Syntax: MAIL FROM:<address>"
        parsed = path_and_params(arg[5:])
        if parsed is None:
            return "501 5.1.7 Bad sender address syntax"
        address, params = parsed
        if len(address) > MAX_ADDRESS:
            return "553 5.1.7 Sender address too long"
        size: int | None = None
        for key, value in params.items():
            if not self.extended:
                return "555 5.5.4 MAIL parameters need EHLO"
            if key == "SIZE":
                if not value.isdigit() or len(value) > 20:
                    return "501 5.5.4 Syntax: SIZE=<octets>"
                size = int(value)
                if size > self.limits.max_message_size:
                    return REPLY_TOO_BIG
            elif key == "BODY":
                if value.upper() not in ("7BIT", "8BITMIME"):
                    return "501 5.5.4 BODY must be 7BIT or 8BITMIME"
            elif key == "SMTPUTF8":
                if value:
                    return "501 5.5.4 SMTPUTF8 takes no value"
            else:
                return "555 5.5.4 MAIL parameter not recognized"
        return MailFrom(address, size, params)

    def _rcpt_to(self, arg: str) -> RcptTo | str:
        """The RCPT command as an event, or the reply that refuses it."""
        if self.state is not MAIL:
            return "503 5.5.1 Error: need MAIL command"
        if arg[:3].upper() != "TO:":
            return "501 5.5.4 Syntax: RCPT TO:<address>"
        parsed = path_and_params(arg[3:])
        if parsed is None or not parsed[0]:
            return "501 5.1.3 Bad recipient address syntax"
        address, params = parsed
        if params:
            return "555 5.5.4 RCPT parameters not recognized"
        if len(address) > MAX_ADDRESS:
            return "553 5.1.3 Recipient address too long"
        if self._unknown_rcpts >= self.limits.max_unknown_recipients:
            # Recipient probing (username enumeration): no more look-ups in this session;
            # the 421 closes it.
            return REPLY_PROBING
        if self._tx.accepted >= self.limits.max_recipients:
            return REPLY_TOO_MANY_RCPT  # no look-up: says nothing about the mailbox
        return RcptTo(address)

    def _data_command(self, arg: str) -> None:
        if arg:
            self._reply("501 5.5.4 Syntax: DATA")
        elif self.state is not MAIL:
            self._reply("503 5.5.1 Error: need MAIL command")
        elif not self._tx.recipients:
            self._reply("503 5.5.1 Error: need RCPT command")
        elif self._tx.chunked:  # RFC 3030 2: not both in one transaction
            self._reply("503 5.5.1 Error: DATA after BDAT")
        else:
            self.state = DATA
            self._body = bytearray(b"\r\n")  # DATA starts at a line start
            self._dots = 0
            self._line = 0
            self._too_big = self._too_long = False
            self._out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")

    def _bdat(self, arg: str) -> None:
        """BDAT: a chunk of the message follows, `size` octets exactly, binary (no dot-stuffing).
        A refused chunk's octets are still read, so the stream stays in step (RFC 3030 2);
        only an unreadable size leaves no way to find the next command."""
        parsed = bdat_args(arg)
        if parsed is None:
            self._reply("501 5.5.4 Syntax: BDAT <size> [LAST], closing connection")
            self._close()
            return
        size, last = parsed
        refusal = None
        if self.state is not MAIL:
            refusal = "503 5.5.1 Error: need MAIL command"
        elif not self._tx.recipients:
            refusal = "503 5.5.1 Error: need RCPT command"
        elif (len(self._body) if self._tx.chunked else 0) + size > self.limits.max_message_size:
            # The transaction is over (RFC 3030 2); the chunk's octets are still read past.
            refusal = REPLY_TOO_BIG
            self._end_transaction()
            self._body = bytearray()
        elif not self._tx.chunked:
            self._tx.chunked = True
            self._body = bytearray()
            self._line = 0
            self._too_long = False
        self._chunk_left, self._chunk_last = size, last
        self._chunk_refusal, self._chunk_return = refusal, self.state
        self.state = CHUNK

    def _rset(self, arg: str) -> None:
        if arg:
            self._reply("501 5.5.4 Syntax: RSET")
            return
        self._end_transaction()
        self._out.append(b"250 2.0.0 OK\r\n")

    def _noop(self, arg: str) -> None:
        self._out.append(b"250 2.0.0 OK\r\n")

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
            "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP"
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

    # --- primitives -------------------------------------------------------------------

    def _end_transaction(self) -> None:
        self._tx = NO_TRANSACTION  # type: ignore[assignment]
        if self.state in (MAIL, DATA, CHUNK):
            self.state = READY

    def _reply(self, line: str) -> None:
        if line.startswith("421"):
            self._close()
        self._out.append(encoded(line))

    def _close(self) -> None:
        self.state = CLOSED
        self.closing = True
        self._in.clear()
        self._pos = 0
        self._body = bytearray()


COMMANDS: dict[bytes, Callable[[Commands[Any], str], None]] = {
    b"EHLO": Commands._ehlo,
    b"HELO": Commands._helo,
    b"MAIL": Commands._mail,
    b"RCPT": Commands._rcpt,
    b"DATA": Commands._data_command,
    b"BDAT": Commands._bdat,
    b"RSET": Commands._rset,
    b"NOOP": Commands._noop,
    b"QUIT": Commands._quit,
    b"VRFY": Commands._vrfy,
    b"HELP": Commands._help,
    b"STARTTLS": Commands._starttls,
    b"EXPN": Commands._not_implemented,
    b"AUTH": Commands._not_implemented,
}
