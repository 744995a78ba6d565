"""The one way every bench script starts `ephemail serve`: a real server in a subprocess.

Everything stays on 127.0.0.1 on free ports. `running_server` makes a fresh temporary data
directory and removes it on exit (errors and Ctrl-C included); `start_server` starts on an
existing directory for scripts that stop and restart the server themselves.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lib.procs import find_tool, listeners, proc_status_kib, process_tree, terminate

ROOT = Path(__file__).resolve().parents[2]


def _load_free_port() -> Callable[[], int]:
    """The tests' port picker (below the ephemeral range), loaded from its file alone: one
    picker for both, without importing the test support package (nor this checkout's code)."""
    spec = importlib.util.spec_from_file_location("_ports", ROOT / "tests/support/ports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    picker: Callable[[], int] = module.free_port
    return picker


free_port = _load_free_port()

HOST = "127.0.0.1"
ADMIN = "admin@localhost.localdomain"
BIN = Path(sys.executable).parent


def ephemail_command() -> list[str]:
    found = find_tool("ephemail")
    if found:
        return [found]
    return [sys.executable, "-c", "from ephemail.cli import main; main()"]


def server_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server on `data_dir` and two free ports; no inherited EPHEMAIL_*.

    A `PYTHONPATH` in `extra` goes in front of the inherited one (to run other sources).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPHEMAIL_")}
    env.update(
        EPHEMAIL_DATA_DIR=str(data_dir),
        EPHEMAIL_SMTP_HOST=HOST,
        EPHEMAIL_HTTP_HOST=HOST,
        EPHEMAIL_SMTP_PORT=str(free_port()),
        EPHEMAIL_HTTP_PORT=str(free_port()),
        EPHEMAIL_LOG_LEVEL="warning",
    )
    env.update(extra or {})
    if extra and "PYTHONPATH" in extra and os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = extra["PYTHONPATH"] + os.pathsep + os.environ["PYTHONPATH"]
    return env


def smtp_banner_ok(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as sock:
            sock.settimeout(2.0)
            ok = sock.recv(512).startswith(b"220")
            with contextlib.suppress(OSError):
                sock.sendall(b"QUIT\r\n")
                sock.recv(512)
            return ok
    except OSError:
        return False


@dataclass
class Server:
    data_dir: Path
    smtp_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False)
    workers: int = 1
    admin_key: str = ""

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def api_headers(self) -> dict[str, str]:
        """The admin key's headers for the user API."""
        return {"Authorization": f"Bearer {self.admin_key}", "Accept": "application/json"}

    def api(self, timeout: float = 30.0) -> httpx.Client:
        """An HTTP client on the user API with the admin key."""
        return httpx.Client(base_url=self.base_url, headers=self.api_headers, timeout=timeout)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        """Run `ephemail …` against this server's data; returns stdout, raises on failure."""
        result = subprocess.run(
            [*ephemail_command(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise RuntimeError(f"ephemail {' '.join(args)} exited {result.returncode}: {output}")
        return result.stdout

    def create_mailboxes(self, count: int) -> list[str]:
        """`count` mailboxes made over the API (`POST /api/emails`) under a roomy plan."""
        raise_limits(self)
        if not self.admin_key:  # not a fresh directory: make a key
            self.ensure_key()
        with self.api() as http:
            return [
                str(http.post("/api/emails").raise_for_status().json()["data"]["email"])
                for _ in range(count)
            ]

    def ensure_key(self) -> None:
        """An admin key, made with the CLI when this start printed none (a database that
        was not fresh, such as a PostgreSQL one shared by several runs)."""
        if not self.admin_key:
            self.admin_key = self.cli("key", "create", ADMIN).strip().splitlines()[-1]

    def pids(self) -> list[int]:
        """The server and its descendants (workers, commit process)."""
        return process_tree(self.process.pid)

    def rss(self) -> tuple[int, list[int]]:
        """Resident KiB in all, and per process."""
        per = [proc_status_kib(pid, "VmRSS") for pid in self.pids()]
        return sum(per), per

    def rss_mib(self) -> float:
        return self.rss()[0] / 1024

    def stored(self) -> int:
        """Messages in the database (SQLite, or the PostgreSQL one of EPHEMAIL_DATABASE_URL)."""
        url = self.env.get("EPHEMAIL_DATABASE_URL", "")
        if url.startswith("postgresql"):
            import asyncio

            import asyncpg

            async def count() -> int:
                conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql", 1))
                try:
                    return int(await conn.fetchval("SELECT count(*) FROM messages"))
                finally:
                    await conn.close()

            return asyncio.run(count())
        conn = sqlite3.connect(self.data_dir / "ephemail.db", timeout=30)
        try:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
        finally:
            conn.close()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> int | None:
        """SIGTERM and wait, then SIGKILL the process group; the main process's exit code."""
        return terminate(self.process)


def _wait_ready(server: Server, deadline: float) -> None:
    """Every worker listens, SMTP greets and HTTP answers."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        if listeners(server.smtp_port) >= server.workers and smtp_banner_ok(server.smtp_port):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{server.base_url}/api/openapi.json", timeout=2).read()
                return
        time.sleep(0.1)
    raise RuntimeError("server did not become ready in time")


def start_server(
    data_dir: Path, env: dict[str, str], workers: int = 1, timeout: float = 60.0
) -> Server:
    """Start `ephemail serve` on an existing data directory and wait until it answers.

    Unlike `running_server`, this neither creates nor removes the directory and never stops
    the server: it is for scripts that stop and restart it themselves (same directory, same
    ports, from `env`). The process leads its own process group (stop it with `os.killpg`);
    its output is appended to `server.log` in the data directory, and `admin_key` is set when
    this start printed one (the first start on a fresh directory).
    """
    log_path = data_dir / "server.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*ephemail_command(), "serve", "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(
        data_dir,
        int(env["EPHEMAIL_SMTP_PORT"]),
        int(env["EPHEMAIL_HTTP_PORT"]),
        process,
        env,
        workers,
    )
    try:
        _wait_ready(server, time.monotonic() + timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    with log_path.open("rb") as log:
        log.seek(offset)
        output = log.read().decode(errors="replace")
    # Not a terminal: the first start writes the key to a private file and prints its path.
    key_file = data_dir / "first-start-key.txt"
    if key_file.name in output and key_file.exists():
        output = key_file.read_text()
    for line in output.splitlines():
        if "API key:" in line:
            server.admin_key = line.split("API key:")[1].strip()
    return server


@contextlib.contextmanager
def running_server(
    workers: int = 1, extra_env: dict[str, str] | None = None, timeout: float = 60.0
) -> Iterator[Server]:
    """A server on a fresh temporary directory, stopped and removed on exit."""
    data_dir = Path(tempfile.mkdtemp(prefix="ephemail-bench-"))
    try:
        server = start_server(data_dir, server_env(data_dir, extra_env), workers, timeout)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def raise_limits(server: Server) -> None:
    """A plan roomy enough that quota and mailbox limits never shape a measurement."""
    server.cli(
        "plan",
        "set",
        "default",
        "--monthly-quota",
        "1000000000",
        "--mailbox-lifetime",
        "86400",
        "--max-mailboxes",
        "100000",
        "--domain-types",
        "free,premium,custom",
    )
