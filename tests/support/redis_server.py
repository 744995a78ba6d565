"""A Redis server of a test's own, on a free port, that the test may stop and start again.

The machine's Redis is shared by every test; a test that shows what happens when Redis goes
away, or restarts empty, needs one nobody else uses. It keeps nothing on disk (`--save ""
--appendonly no`), so a restart loses every key, as a crash without persistence would.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ci import unavailable
from tests.support.ports import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class OwnRedis:
    """One redis-server process at a time on a fixed port: stop() and start() keep the URL."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._proc is None, "already running"
        log = (self._workdir / f"redis-{self.port}.log").open("ab")
        self._proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._workdir),
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Kill it: what it held is gone (nothing is saved)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def own_redis(workdir: Path) -> Iterator[OwnRedis]:
    if not Path(REDIS_SERVER).exists():
        unavailable("redis-server is not installed (make test-tools installs it)")
    server = OwnRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
