"""What the SMTP machine and the service say to each other: limits, states, events, replies.

Plain data with no behaviour, so the machine, its commands and the adapter can all share it
without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto
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


@dataclass(frozen=True, eq=False)  # hashed by identity: cheap as a cache key at every EHLO
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
    CHUNK = auto()  # reading the octets of a BDAT chunk (RFC 3030)
    CLOSED = auto()  # a 221 or 421 was queued: read nothing more


# A member looked up through its Enum class costs a descriptor call each time (Python 3.11);
# the machine's paths taken for every command use these plain module names instead.
GREETING, READY, MAIL, DATA, CHUNK, CLOSED = (
    State.GREETING,
    State.READY,
    State.MAIL,
    State.DATA,
    State.CHUNK,
    State.CLOSED,
)


# The events are made for every command of every message: slots and no frozen-ness (a frozen
# dataclass sets each field through object.__setattr__), and nobody changes them once made.


@dataclass(slots=True)
class MailFrom:
    """MAIL FROM: accept with a 2xx answer, refuse with anything else."""

    address: str
    size: int | None
    params: dict[str, str]


@dataclass(slots=True)
class RcptTo:
    """RCPT TO: `accept_recipient(value)` or `answer(refusal)`."""

    address: str


@dataclass(slots=True)
class Message(Generic[R]):
    """A complete message, unstuffed; answer once it is stored (or not)."""

    sender: str
    recipients: list[R]
    data: bytes


@dataclass(slots=True)
class StartTls:
    """`220` is queued: send it, do the handshake, then call `tls_started`."""


# What the service must decide before the machine reads on: one is pending at a time.
Decision = MailFrom | RcptTo | Message[R] | StartTls


@dataclass(slots=True)
class Transaction(Generic[R]):
    """The MAIL transaction in progress: its sender and the recipients accepted so far.

    Between transactions the machine holds NO_TRANSACTION, shared and never changed: only a
    MAIL answered 2xx makes a transaction that recipients and chunks are added to.
    """

    sender: str = ""
    recipients: list[R] = field(default_factory=list)
    accepted: int = 0
    chunked: bool = False  # a BDAT chunk was taken: the message comes in chunks, not DATA


NO_TRANSACTION: Transaction[object] = Transaction()
