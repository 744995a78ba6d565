"""The node's one SQLite writer, in a process of its own.

Worker processes parse and compress mail on their event loops and send the prepared rows
here over a socket pair; this process merges whatever every worker has sent into one
transaction, commits it (one fsync), and answers each request with its own outcome: the
copies stored, or why none was (rows.py admits each into its mailbox or not). It has a
GIL to itself: a writer thread inside a worker fought the event loop for the GIL at every
statement, and writers in several workers had to take turns on the file, each paying its own
fsync.

A worker sends its requests without waiting for earlier answers, and the answers go back on
each worker's socket in the order its requests came, so they need no ids.
The process ends when every worker has hung up; it ignores SIGINT and SIGTERM, so a Ctrl-C
to the whole process group lets the workers finish their sessions through it first.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import selectors
import signal
import socket
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ephemail.core import metrics
from ephemail.store.ingest.frames import READY, MarkSeen, Relay, frame, unframe
from ephemail.store.ingest.rows import Outcome, Rows, insert_sqlite
from ephemail.store.sqlite_setup import BUSY_TIMEOUT_MS, sqlite_pragmas

log = logging.getLogger("ephemail.store.ingest.commit_process")


def open_database(path: str, synchronous: str) -> sqlite3.Connection:
    """Autocommit mode: `commit` issues BEGIN IMMEDIATE itself, so a batch never has to
    upgrade a read lock (which could fail with SQLITE_BUSY halfway through)."""
    db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    for pragma in sqlite_pragmas(synchronous):
        db.execute(pragma)
    db.execute("SELECT 1 FROM messages LIMIT 0")  # the schema is there, or fail at start
    return db


MARK_SEEN_SQL = "UPDATE messages SET is_seen = 1 WHERE id = ? AND is_seen = 0"
Request = Rows | MarkSeen


def commit(db: sqlite3.Connection, requests: Sequence[Request]) -> list[Outcome | None]:
    """One transaction for all `requests`; an outcome per request in their order (None for
    a MarkSeen)."""
    stores = [r for r in requests if isinstance(r, Rows)]
    seen = [(i,) for r in requests if isinstance(r, MarkSeen) for i in r.message_ids]
    db.execute("BEGIN IMMEDIATE")
    try:
        outcomes = iter(insert_sqlite(db, stores) if stores else [])
        if seen:  # an empty executemany still costs a statement reset (~6 us a commit)
            db.executemany(MARK_SEEN_SQL, seen)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return [next(outcomes) if isinstance(r, Rows) else None for r in requests]


@dataclass(eq=False)
class _Peer:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)


@dataclass
class CommitStats:
    messages: int = 0
    commits: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.commits:
            return "commit process: no messages"
        return (
            f"commit process: {self.messages} message(s) in {self.commits} commit(s) "
            f"({self.messages / self.commits:.1f} per commit, "
            f"{self.seconds / self.commits * 1000:.2f} ms each)"
        )


def _commit_requests(
    db: sqlite3.Connection, requests: list[tuple[_Peer, Request]], stats: CommitStats
) -> list[tuple[bool, Any]]:
    """All requests in one transaction; if that fails, each alone, so one bad message
    fails only its own request. Answers: (True, (commit number, Outcome)) or (False, why)."""
    started = time.perf_counter()
    try:
        outcomes = commit(db, [rows for _, rows in requests])
    except Exception as exc:
        # A locked, full or failing database fails every request alike: no use in retrying
        # each alone (a lock already had its 30 s). Anything else may be one message's fault.
        if len(requests) == 1 or isinstance(exc, sqlite3.OperationalError):
            log.exception("storing %d request(s) failed", len(requests))
            return [(False, f"{type(exc).__name__}: {exc}")] * len(requests)
        log.warning("a merged batch of %d requests failed; committing each alone", len(requests))
        return [_commit_requests(db, [one], stats)[0] for one in requests]
    stored = sum(len(outcome.stored) for outcome in outcomes if outcome is not None)
    if any(isinstance(request, Rows) for _, request in requests):
        # The figures are of received mail: a commit of seen marks alone does not count.
        stats.commits += 1
        stats.messages += stored
        metrics.get().COMMIT_BATCH.observe(stored)
        stats.seconds += time.perf_counter() - started
    # Which commit it was: workers count the transactions their messages went into.
    return [(True, (stats.commits, outcome)) for outcome in outcomes]


def serve(db: sqlite3.Connection, socks: Sequence[socket.socket]) -> CommitStats:
    """Answer the workers until all of them have hung up."""
    stats = CommitStats()
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(True)
        sock.sendall(frame((READY, os.getpid())))
        selector.register(sock, selectors.EVENT_READ, _Peer(sock))
    while selector.get_map():
        requests: list[tuple[_Peer, Request]] = []
        relays = bytearray()
        for key, _ in selector.select():
            peer: _Peer = key.data
            try:
                data = peer.sock.recv(1 << 20)
            except ConnectionError:
                data = b""
            if not data:
                selector.unregister(peer.sock)
                peer.sock.close()
                continue
            peer.buffer += data
            for item in unframe(peer.buffer):
                if isinstance(item, Relay):
                    relays += frame(item)
                else:
                    requests.append((peer, item))
        answers: dict[_Peer, bytearray] = {}
        if requests:
            for (peer, _), reply in zip(
                requests, _commit_requests(db, requests, stats), strict=True
            ):
                answers.setdefault(peer, bytearray()).extend(frame(reply))
        if relays:  # every worker hears every event, after the answers of this round
            for key in selector.get_map().values():
                answers.setdefault(key.data, bytearray()).extend(relays)
        for peer, outgoing in answers.items():
            # A worker gone meanwhile is closed at its next read.
            with contextlib.suppress(OSError):
                peer.sock.sendall(outgoing)
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ephemail.store.ingest.commit_process")
    parser.add_argument("--database", required=True, help="SQLite file")
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--fd", type=int, action="append", required=True, help="a worker's end")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    socks = [socket.socket(fileno=fd) for fd in args.fd]
    try:
        db = open_database(args.database, args.synchronous)
    except sqlite3.Error as exc:
        log.error("cannot open %s: %s", args.database, exc)
        return 1
    stats = serve(db, socks)
    db.close()
    log.info("%s", stats.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
