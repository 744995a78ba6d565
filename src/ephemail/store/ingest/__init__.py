"""Storing received mail: prepared rows in, a durable commit out.

This package chooses the backend: on PostgreSQL each worker writes its own batches through
asyncpg (pg_writer.py); on SQLite one commit process per node writes for every worker
(commit_process.py), each worker talking to it through commit_client.py. rows.py is what
both commit, and how a commit admits each copy into its mailbox; writer.py is the interface
the rest of the service sees.

Nothing here imports SQLAlchemy at run time: the commit process, started as
`python -m ephemail.store.ingest.commit_process`, loads this package first.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from ephemail.store.ingest.commit_client import CommitProcess, CommitProcessWriter, spawn
from ephemail.store.ingest.pg_writer import GroupCommitWriter
from ephemail.store.ingest.rows import Rows
from ephemail.store.ingest.writer import MessageWriter, NotStored, WriterClosed
from ephemail.store.sqlite_setup import sqlite_database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "CommitProcess",
    "CommitProcessWriter",
    "MessageWriter",
    "NotStored",
    "Rows",
    "WriterClosed",
    "make_writer",
    "start_commit_process",
]


def start_commit_process(
    url: str, synchronous: str, workers: int, log_level: str
) -> CommitProcess | None:
    """The node's commit process with a socket per worker, on SQLite; None on PostgreSQL."""
    database = sqlite_database(url)
    if database is None:
        return None
    if not database or database == ":memory:":
        raise ValueError("SQLite must be a file: the commit process writes to it")
    return spawn(database, synchronous, workers, log_level)


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
    if commit_socket is not None:
        return CommitProcessWriter(commit_socket, mailbox_message_cap)
    owned = start_commit_process(url, synchronous, workers=1, log_level=log_level)
    if owned is None:
        return GroupCommitWriter(engine, mailbox_message_cap, batch_max=batch_max)
    return CommitProcessWriter(owned.sockets[0], mailbox_message_cap, owned=owned)
