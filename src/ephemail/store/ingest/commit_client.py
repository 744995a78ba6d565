"""A worker's end of the node's commit process (SQLite), and how the process is started.

Each prepared message is sent as soon as it is ready, without waiting for the answer to the
one before: while the commit process commits one group, the next group piles up in its
socket, and it takes all of it in the next transaction. Answers come back in the order the
requests went out, so a queue of futures is all the bookkeeping there is.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ephemail.store.ingest.frames import FRAME_HEADER, READY, MarkSeen, Relay, frame
from ephemail.store.ingest.rows import Outcome, Rows
from ephemail.store.ingest.writer import MessageWriter, WriterClosed

log = logging.getLogger(__name__)

# The commit process imports little, but a loaded machine can still take a while to start it.
START_SECONDS = 60.0
COMMIT_PROCESS_MODULE = "ephemail.store.ingest.commit_process"


@dataclass
class CommitProcess:
    """The parent's handle: the child, and one socket per worker to hand out."""

    process: subprocess.Popen[bytes]
    sockets: list[socket.socket]

    def wait(self, timeout: float) -> int | None:
        """After every worker end is closed the child exits by itself; make sure it does."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("commit process did not exit; killing it")
            self.process.kill()
            return self.process.wait()


def spawn(database: str | Path, synchronous: str, workers: int, log_level: str) -> CommitProcess:
    """Start the commit process with a socket pair per worker."""
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(workers)]
    child_ends = [theirs for _, theirs in pairs]
    command = [
        sys.executable,
        "-m",
        COMMIT_PROCESS_MODULE,
        "--database",
        str(database),
        "--synchronous",
        synchronous,
        "--log-level",
        log_level,
    ]
    for end in child_ends:
        command += ["--fd", str(end.fileno())]
    process = subprocess.Popen(command, pass_fds=[end.fileno() for end in child_ends])
    for end in child_ends:
        end.close()
    return CommitProcess(process, [ours for ours, _ in pairs])


class CommitProcessLost(RuntimeError):
    """The commit process is gone: this worker cannot store anything any more."""


class CommitProcessWriter(MessageWriter):
    def __init__(
        self,
        sock: socket.socket,
        mailbox_message_cap: int,
        *,
        owned: CommitProcess | None = None,
    ) -> None:
        super().__init__(mailbox_message_cap)
        self._sock = sock
        self._owned = owned  # a commit process this worker started, and so must wait for
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._answers: asyncio.Task[None] | None = None
        # One future per request sent, in order: a store's Outcome, or None for seen marks.
        self._waiting: collections.deque[asyncio.Future[Outcome | None]] = collections.deque()
        self._last_commit = 0
        # Events relayed by the commit process from every worker (events/relay_bus.py).
        self.on_relay: Callable[[bytes], None] | None = None

    async def start(self) -> None:
        self._sock.setblocking(False)
        self._reader, self._writer = await asyncio.open_connection(sock=self._sock)
        try:
            hello = await asyncio.wait_for(self._read(), START_SECONDS)
        except (CommitProcessLost, TimeoutError) as exc:
            raise RuntimeError(f"the commit process did not start: {exc}") from exc
        if not (isinstance(hello, tuple) and hello[:1] == (READY,)):
            raise RuntimeError(f"the commit process said {hello!r}, not ready")
        self._answers = asyncio.create_task(self._read_answers(), name="commit-answers")

    async def _read(self) -> object:
        assert self._reader is not None
        try:
            header = await self._reader.readexactly(FRAME_HEADER.size)
            (size,) = FRAME_HEADER.unpack(header)
            body = await self._reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise CommitProcessLost("the commit process closed the connection") from exc
        return pickle.loads(body)

    async def _read_answers(self) -> None:
        try:
            while True:
                answer = await self._read()
                if isinstance(answer, Relay):
                    if self.on_relay is not None:
                        self.on_relay(answer.payload)
                    continue
                if not (isinstance(answer, tuple) and self._waiting):
                    raise RuntimeError(f"an answer without a request: {answer!r}")
                ok, detail = answer
                future = self._waiting.popleft()
                if future.done():
                    continue
                if ok:
                    commit, outcome = detail
                    if outcome is not None and commit != self._last_commit:
                        self._last_commit = commit
                        self.transactions += 1
                    future.set_result(outcome)
                else:
                    future.set_exception(RuntimeError(f"storage failed: {detail}"))
        except Exception as exc:
            if not self._closing:  # at stop, we are the ones who hung up
                log.critical("the commit process is gone (%s): refusing mail from now on", exc)
                self.lost.set()
            while self._waiting:
                future = self._waiting.popleft()
                if not future.done():
                    future.set_exception(CommitProcessLost(str(exc)))

    async def _store(self, rows: Rows) -> Outcome:
        if self._writer is None or self.lost.is_set():
            raise CommitProcessLost("not connected to the commit process")
        outcome = await self._request(rows)
        assert outcome is not None
        return outcome

    async def _request(self, request: Rows | MarkSeen) -> Outcome | None:
        assert self._writer is not None
        future: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._writer.write(frame(request))
        await self._writer.drain()
        return await future

    async def mark_seen(self, message_ids: tuple[str, ...]) -> None:
        """Mark messages seen in the commit process's next transaction (see frames.MarkSeen).
        Raises WriterClosed when stopping or cut off: the caller then writes it itself."""
        if self._writer is None or self._closing or self.lost.is_set():
            raise WriterClosed("not connected to the commit process")
        try:
            await self._request(MarkSeen(message_ids))
        except RuntimeError as exc:  # gone, or its transaction failed
            raise WriterClosed(str(exc)) from exc

    async def relay(self, payload: bytes) -> None:
        """Have the commit process send an event to every worker of the node (this one too)."""
        if self._writer is None or self.lost.is_set() or self._writer.is_closing():
            raise CommitProcessLost("not connected to the commit process")
        self._writer.write(frame(Relay(payload)))
        await self._writer.drain()

    async def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        else:
            self._sock.close()
        if self._answers is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._answers  # ends at the EOF that closing causes
        if self.transactions:
            log.info(
                "writer: %d message(s) went into %d commit(s) of the commit process",
                self.committed,
                self.transactions,
            )
        if self._owned is not None:
            await asyncio.to_thread(self._owned.wait, 30.0)
