"""The writer interface: prepared rows in, a commit out. `store` returns only once the rows
are committed.

Every message is prepared (parsed, compressed, hashed into rows) by mail/prepare.py in the
worker that took it; a writer never sees raw bytes. It writes by group commit: many
messages per transaction, so a `250` costs a share of one fsync rather than one each. Where
the transaction happens depends on the database (the package chooses, see __init__.py):

- SQLite: the node's commit process (commit_process.py) writes for every worker and merges
  what they send into one transaction; commit_client.py is a worker's end.
- PostgreSQL: each worker gathers its own batches and writes them through asyncpg
  (pg_writer.py); the server orders concurrent writers.

Either way the commit admits each recipient's copy only into the mailbox life that RCPT
found, still live, with room under the per-mailbox message cap (rows.py): a message none of
whose recipients can take it any more is refused with `NotStored`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable

from ephemail.store.ingest.rows import Outcome, Rows


def _nothing() -> None:
    """No dispatcher to wake."""


class WriterClosed(RuntimeError):
    """The writer is stopping, or cannot store any more; the session should answer 421."""


class NotStored(Exception):
    """The store refused this message for a reason the sender must hear (a mailbox that is
    gone or full by the time of the commit); `reply` is the whole SMTP reply line."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class MessageWriter(ABC):
    """Hand over, wait for the commit; and on stop, let what is in flight finish."""

    def __init__(self, mailbox_message_cap: int) -> None:
        self.mailbox_message_cap = mailbox_message_cap
        self.lost = asyncio.Event()  # set when storing became impossible for good
        self.committed = 0
        self.transactions = 0  # how many transactions this writer's messages went into
        self._closing = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Called when a commit queued webhook deliveries (the service sets the dispatcher's
        # wake); the dispatcher's own poll finds them otherwise.
        self.on_outbox: Callable[[], None] = _nothing

    @abstractmethod
    async def start(self) -> None:
        """Connect to whatever does the writing; fail here rather than at the first mail."""

    def check_open(self) -> None:
        """Raise WriterClosed when nothing can be stored: callers ask before costly work."""
        if self._closing or self.lost.is_set():
            raise WriterClosed("shutting down")

    async def store(self, rows: Rows) -> list[str]:
        """Store one prepared message for its recipients; returns once committed, with the ids
        of the copies stored. Raises NotStored when no recipient could take it any more."""
        self.check_open()
        self._in_flight += 1
        self._idle.clear()
        try:
            rows.cap = self.mailbox_message_cap
            outcome = await self._store(rows)
            if outcome.outboxed:
                self.on_outbox()
            if outcome.refused is not None:
                raise NotStored(outcome.refused)
            self.committed += 1
            return outcome.stored
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @abstractmethod
    async def _store(self, rows: Rows) -> Outcome:
        """Return once the transaction holding `rows` committed; raise if it failed."""

    async def stop(self) -> None:
        """Refuse new work, let every message in flight be committed, then let go."""
        self._closing = True
        await self._idle.wait()
        await self._close()

    @abstractmethod
    async def _close(self) -> None:
        """Release connections and processes; nothing is in flight any more."""
