"""What a reader missed: the mailbox's messages after a receipt sequence, from the database.

Message events need no table of their own: a message's `seq` (its receipt order) is the
event id, so a stream resumed with `Last-Event-ID` and a `wait` with `since` read the
messages table, and what they can replay lives exactly as long as the mailbox and its
messages do.
"""

from __future__ import annotations

from ephemail.events.model import Event, received
from ephemail.store.reads import HotReads

REPLAY_LIMIT = 1000  # the most events one resumption replays (the default mailbox cap)


async def messages_since(
    reads: HotReads, mailbox_id: int, since: int, limit: int = REPLAY_LIMIT
) -> list[Event]:
    """message.received for each message of the mailbox with `seq > since`, oldest first."""
    return [
        received(
            mailbox_id=mailbox_id,
            address=address,
            message_id=message_id,
            seq=int(seq),
            from_name=from_name,
            from_email=from_email,
            subject=subject,
            received_at=int(received_at),
        )
        for message_id, seq, from_name, from_email, subject, received_at, address in (
            await reads.received_since(mailbox_id, since, limit)
        )
    ]
