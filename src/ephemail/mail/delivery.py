"""Delivery: the one place the SMTP session calls to find a recipient and to store a message.

RCPT asks `resolve` whether an address receives mail; DATA hands the raw message to
`deliver`, which prepares it (mail/prepare.py: parse, compress, hash → rows) and gives the
rows to the store's writer, returning once they are committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ephemail.core.addresses import delivery_address
from ephemail.events import EventBus, LocalBus
from ephemail.events.model import Event, received
from ephemail.mail.prepare import INLINE_PREPARE_BYTES, prepare
from ephemail.store.ingest import MessageWriter
from ephemail.store.models import Recipient
from ephemail.store.reads import HotReads
from ephemail.store.usage import UsageMeter


class Delivery:
    """Recipient lookup and durable storing of received mail."""

    def __init__(
        self,
        reads: HotReads,
        writer: MessageWriter,
        bus: EventBus | None = None,
        usage: UsageMeter | None = None,
    ) -> None:
        self._reads = reads
        self._writer = writer
        self._bus = bus or LocalBus()
        self._usage = usage  # messages received per day and account (in memory)
        # Whether a session may start a decision in its protocol callback, outside a Task.
        self.eager = reads.inline

    async def resolve(self, address: str) -> Recipient | None:
        """The live mailbox for a RCPT address, straight from the database.

        No cache: a mailbox that expires, is deleted or renamed must stop receiving at once.
        """
        normalised = delivery_address(address)
        if normalised is None:
            return None
        return await self._reads.live_recipient(normalised)

    def resolve_now(self, address: str) -> Recipient | None:
        """`resolve` without a coroutine, when the reads are inline (`eager`)."""
        normalised = delivery_address(address)
        if normalised is None:
            return None
        return self._reads.live_recipient_now(normalised)

    async def deliver(
        self, envelope_from: str, recipients: Sequence[Recipient], raw: bytes
    ) -> list[str]:
        """Store one message for its recipients; returns once committed, with the ids of the
        copies stored. Raises WriterClosed when the writer is stopping (or lost), NotStored
        when no recipient could take the message any more."""
        self._writer.check_open()  # do not parse what could not be stored
        if len(raw) <= INLINE_PREPARE_BYTES:
            rows = prepare(envelope_from, recipients, raw)
        else:
            rows = await asyncio.to_thread(prepare, envelope_from, recipients, raw)
        stored = await self._writer.store(rows)
        # Committed: only now may anyone hear of it (message.received, one per copy stored).
        kept = set(stored)
        self._bus.publish_soon(_received(rows.messages, kept))
        if self._usage is not None:
            for m in rows.messages:
                if m["id"] in kept:
                    self._usage.message(m["user_id"])
        return stored


def _received(messages: list[dict[str, Any]], stored: set[str]) -> list[Event]:
    return [
        received(
            mailbox_id=m["mailbox_id"],
            address=m["to_address"],
            message_id=m["id"],
            seq=m["seq"],
            from_name=m["from_name"],
            from_email=m["from_email"],
            subject=m["subject"],
            received_at=m["received_at"],
        )
        for m in messages
        if m["id"] in stored
    ]
