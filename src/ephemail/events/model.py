"""What happened, as one small record that crosses processes as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ephemail.core.time import received_at as received_at_text

MESSAGE_RECEIVED = "message.received"
MESSAGE_DELETED = "message.deleted"
MAILBOX_CREATED = "mailbox.created"
MAILBOX_RENAMED = "mailbox.renamed"
MAILBOX_DELETED = "mailbox.deleted"
MAILBOX_EXPIRED = "mailbox.expired"
KEY_REVOKED = "key.revoked"

KINDS = frozenset(
    {
        MESSAGE_RECEIVED,
        MESSAGE_DELETED,
        MAILBOX_CREATED,
        MAILBOX_RENAMED,
        MAILBOX_DELETED,
        MAILBOX_EXPIRED,
        KEY_REVOKED,
    }
)
# After one of these the mailbox (or the life a token names) is gone: a stream ends on it.
ENDINGS = frozenset({MAILBOX_DELETED, MAILBOX_EXPIRED})

# PostgreSQL's NOTIFY takes at most 8000 bytes: the event carries a summary, cut so that
# even four-byte characters stay below that; the message itself has them whole.
SUBJECT_CHARS = 500
NAME_CHARS = 200


@dataclass(frozen=True, slots=True)
class Event:
    """`mailbox_id` is 0 for events of no mailbox (key.revoked). `seq` is the message's
    receipt sequence for message.received (the stream's event id), else 0."""

    kind: str
    mailbox_id: int
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def encode(self) -> bytes:
        return orjson.dumps({"k": self.kind, "m": self.mailbox_id, "d": self.data, "s": self.seq})


def decode(raw: bytes | str) -> Event | None:
    """The event in a message from another process; None for anything malformed."""
    try:
        obj = orjson.loads(raw)
        kind, box, data, seq = obj["k"], obj["m"], obj["d"], obj["s"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if kind not in KINDS or not isinstance(box, int) or not isinstance(data, dict):
        return None
    if not isinstance(seq, int):
        return None
    return Event(kind, box, data, seq)


def received(
    *,
    mailbox_id: int,
    address: str,
    message_id: str,
    seq: int,
    from_name: str,
    from_email: str,
    subject: str,
    received_at: int,
) -> Event:
    return Event(
        MESSAGE_RECEIVED,
        mailbox_id,
        {
            "mailbox": address,
            "id": message_id,
            "from": from_name[:NAME_CHARS],
            "from_email": from_email[:320],
            "subject": subject[:SUBJECT_CHARS],
            "receivedAt": received_at_text(received_at),
        },
        seq,
    )
