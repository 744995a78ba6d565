"""Recipient → mailbox: the one place that decides whether an address receives mail."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.core.addresses import delivery_address
from ephemail.store.mailboxes import Recipient, live_recipient


class RecipientResolver:
    """Looks up the live mailbox for a RCPT address, straight from the database.

    No cache: a mailbox that expires, is deleted or renamed must stop receiving at once.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def resolve(self, recipient: str) -> Recipient | None:
        address = delivery_address(recipient)
        if address is None:
            return None
        async with self._engine.connect() as conn:
            return await live_recipient(conn, address)
