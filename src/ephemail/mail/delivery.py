"""Recipient → mailbox: the one place that decides whether an address receives mail."""

from __future__ import annotations

from ephemail.core.addresses import delivery_address
from ephemail.store.mailboxes import Recipient
from ephemail.store.reads import HotReads


class RecipientResolver:
    """Looks up the live mailbox for a RCPT address, straight from the database.

    No cache: a mailbox that expires, is deleted or renamed must stop receiving at once.
    """

    def __init__(self, reads: HotReads) -> None:
        self._reads = reads

    async def resolve(self, recipient: str) -> Recipient | None:
        address = delivery_address(recipient)
        if address is None:
            return None
        return await self._reads.live_recipient(address)
