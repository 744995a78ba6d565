"""Ports for the servers tests and benches start. No project imports: the benches load this
file on its own (bench/lib/server.py), also against older checkouts of the code."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_given: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on right now, for a server a test starts later.

    Below the kernel's ephemeral range: a port from bind(("127.0.0.1", 0)) is free only until
    some process's next outgoing connection, which the kernel may give that very port (a
    three-node test once found its SMTP port taken that way). Down here only another test's
    pick can collide, one chance in thousands, and never twice in this process.
    """
    low, _ = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 20_000), low)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")
