"""SQLite without Redis: how `ephemail key revoke` reaches the serving processes at once.

No bus reaches them from a process that serves nothing (the commit process talks only to
the workers it started). So each serving process binds a Unix datagram socket in a
directory beside the database, `<database>.events/<pid>-<random>.sock` (0700 directory, 0600
socket); the CLI sends its event to every socket there, and removes the ones nobody
listens on (a process that died). Only `key.revoked` is taken from this path: all it can
do is make a process forget a cached key, which then is read from the database again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from ephemail.events.model import KEY_REVOKED, Event, decode

log = logging.getLogger("ephemail.events")
_MAX_PATH = 100  # sun_path holds 108 bytes; a longer path is reached through its directory


def inbox_dir(database_file: str) -> Path:
    return Path(f"{database_file}.events")


@contextlib.contextmanager
def _short(path: Path) -> Iterator[str]:
    """A path to `path` that fits a socket address (Linux: through an open directory)."""
    if len(os.fsencode(path)) <= _MAX_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_event: Callable[[Event], None]) -> None:
        self._on_event = on_event

    def datagram_received(self, data: bytes, addr: object) -> None:
        event = decode(data)
        if event is not None and event.kind == KEY_REVOKED:
            self._on_event(event)


class LocalInbox:
    """This process's socket in the database's inbox directory."""

    def __init__(self, database_file: str, on_event: Callable[[Event], None]) -> None:
        # The process id names it for an operator; the random part keeps two services of one
        # process (tests run several) from taking each other's socket.
        self.path = inbox_dir(database_file) / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        self._on_event = on_event
        self._transport: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with _short(self.path) as address:
            sock.bind(address)
        os.chmod(self.path, 0o600)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self._on_event), sock=sock
        )

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def send_to_inboxes(database_file: str, events: list[Event]) -> int:
    """Send to every serving process of this database; how many were reached."""
    directory = inbox_dir(database_file)
    if not directory.is_dir():
        return 0
    reached = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for path in directory.glob("*.sock"):
            try:
                with _short(path) as address:
                    for event in events:
                        sock.sendto(event.encode(), address)
                reached += 1
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # nobody listens there any more
            except OSError as exc:
                log.warning("could not reach %s: %s", path.name, exc)
    return reached
