"""What the benchmark scripts share: a real server in a subprocess, the CLI, and the doc.

Everything stays on 127.0.0.1; the server is stopped and its temporary data directory
removed on exit, errors and Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "benchmarks.md"
RELIABILITY_PATH = ROOT / "docs" / "reliability.md"
HOST = "127.0.0.1"
ADMIN = "admin@localhost.localdomain"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    data_dir: Path
    smtp_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False)
    admin_key: str = ""

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def cli(self, *args: str) -> str:
        """Run `ephemail …` against this server's data; returns stdout, raises on failure."""
        result = subprocess.run(
            [str(BIN / "ephemail"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ephemail {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def pids(self) -> list[int]:
        """The server and its worker processes."""
        found = [self.process.pid]
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.process.pid}/task").iterdir():
                children = (task / "children").read_text().split()
                found.extend(int(c) for c in children)
        return found

    def rss_mib(self) -> float:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024


def _wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}")
        try:
            with smtplib.SMTP(HOST, server.smtp_port, timeout=2) as smtp:
                smtp.noop()
            urllib.request.urlopen(f"{server.base_url}/api/openapi.json", timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not become ready in time")


@contextlib.contextmanager
def running_server(workers: int = 1, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    data_dir = Path(tempfile.mkdtemp(prefix="ephemail-bench-"))
    env = {
        **os.environ,
        "EPHEMAIL_DATA_DIR": str(data_dir),
        "EPHEMAIL_SMTP_PORT": str(free_port()),
        "EPHEMAIL_HTTP_PORT": str(free_port()),
        "EPHEMAIL_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    try:
        server = start_server(data_dir, env, workers)
        try:
            yield server
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGTERM)
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def write_doc_section(name: str, body: str, intro: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, keeping everything else."""
    write_doc_section_to(DOC_PATH, name, body, intro)


class HasCli(Protocol):
    def cli(self, *args: str) -> str: ...


def raise_limits(server: HasCli) -> None:
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


def start_server(data_dir: Path, env: dict[str, str], workers: int = 1) -> Server:
    """Start `ephemail serve` on an existing data directory and wait until it answers.

    Unlike `running_server`, this neither creates nor removes the directory and never stops
    the server: it is for scripts that stop and restart it themselves (same directory, same
    ports). The process leads its own process group (stop it with `os.killpg`); its output is
    appended to `server.log` in the data directory, and `admin_key` is set when this start
    printed one (the first start on a fresh directory).
    """
    log_path = data_dir / "server.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(BIN / "ephemail"), "serve", "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(
        data_dir, int(env["EPHEMAIL_SMTP_PORT"]), int(env["EPHEMAIL_HTTP_PORT"]), process, env
    )
    try:
        _wait_ready(server, time.monotonic() + 60)
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


def write_doc_section_to(path: Path, name: str, body: str, intro: str) -> None:
    """`write_doc_section` for any document: replace the block between `<!-- name:start -->`
    and `<!-- name:end -->` (or append it), keeping everything else.

    The file is re-read right before writing (others may have changed it) and replaced through
    a temporary file and a rename, so a reader never sees half of it; `intro` starts it when
    it does not exist yet.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else intro
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
