"""What SMTP receipt stores through: `submit` returns only once the message is committed.

Every message is prepared (parsed, compressed) in the worker that took it, then written by
group commit: many messages per transaction, so a `250` costs a share of one fsync rather
than one each. Where the transaction happens depends on the database:

- SQLite: the node's commit process (store/commit_process.py) writes for every worker and
  merges what they send into one transaction; store/commit_client.py is a worker's end.
- PostgreSQL: each worker gathers its own batches and writes them through asyncpg
  (store/pg_writer.py); the server orders concurrent writers.

Either way the commit admits each recipient's copy only into the mailbox life that RCPT
found, still live, with room under the per-mailbox message cap (store/rows.py): a message
none of whose recipients can take it any more is refused with `NotStored`.
"""

from __future__ import annotations

import asyncio
import socket
from abc import ABC, abstractmethod
from collections.abc import Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.store import commit_process
from ephemail.store.db import is_sqlite
from ephemail.store.mailboxes import Recipient
from ephemail.store.prepare import INLINE_PREPARE_BYTES, prepare
from ephemail.store.rows import Outcome, Rows


class WriterClosed(RuntimeError):
    """The writer is stopping, or cannot store any more; the session should answer 421."""


class NotStored(Exception):
    """The store refused this message for a reason the sender must hear (a mailbox that is
    gone or full by the time of the commit); `reply` is the whole SMTP reply line."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class MessageWriter(ABC):
    """Prepare, hand over, wait for the commit; and on stop, let what is in flight finish."""

    def __init__(self, mailbox_message_cap: int) -> None:
        self.mailbox_message_cap = mailbox_message_cap
        self.lost = asyncio.Event()  # set when storing became impossible for good
        self.committed = 0
        self.transactions = 0  # how many transactions this writer's messages went into
        self._closing = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @abstractmethod
    async def start(self) -> None:
        """Connect to whatever does the writing; fail here rather than at the first mail."""

    async def submit(
        self, envelope_from: str, recipients: Sequence[Recipient], raw: bytes
    ) -> list[str]:
        """Store one message for its recipients; returns once committed, with the ids of the
        copies stored. Raises NotStored when no recipient could take it any more."""
        self._refuse_if_closed()
        self._in_flight += 1
        self._idle.clear()
        try:
            if len(raw) <= INLINE_PREPARE_BYTES:
                rows = prepare(envelope_from, recipients, raw)
            else:
                rows = await asyncio.to_thread(prepare, envelope_from, recipients, raw)
            self._refuse_if_closed()
            rows.cap = self.mailbox_message_cap
            outcome = await self._store(rows)
            if outcome.refused is not None:
                raise NotStored(outcome.refused)
            self.committed += 1
            return outcome.stored
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    def _refuse_if_closed(self) -> None:
        if self._closing or self.lost.is_set():
            raise WriterClosed("shutting down")

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


def start_commit_process(
    url: str, synchronous: str, workers: int, log_level: str
) -> commit_process.CommitProcess | None:
    """The node's commit process with a socket per worker, on SQLite; None on PostgreSQL."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("SQLite must be a file: the commit process writes to it")
    return commit_process.spawn(database, synchronous, workers, log_level)


def make_writer(
    url: str,
    engine: AsyncEngine,
    *,
    mailbox_message_cap: int,
    batch_max: int = 256,
    synchronous: str = "FULL",
    commit_socket: socket.socket | None = None,
    log_level: str = "info",
) -> MessageWriter:
    """PostgreSQL: this worker writes through `engine`. SQLite: through the node's commit
    process, on `commit_socket` when the caller started one for several workers, else through
    a commit process of this worker's own."""
    # Imported here: both implementations import MessageWriter from this module.
    from ephemail.store.commit_client import CommitProcessWriter
    from ephemail.store.pg_writer import GroupCommitWriter

    if commit_socket is not None:
        return CommitProcessWriter(commit_socket, mailbox_message_cap)
    owned = start_commit_process(url, synchronous, workers=1, log_level=log_level)
    if owned is None:
        return GroupCommitWriter(engine, mailbox_message_cap, batch_max=batch_max)
    return CommitProcessWriter(owned.sockets[0], mailbox_message_cap, owned=owned)
