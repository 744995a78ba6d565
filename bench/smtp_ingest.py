#!/usr/bin/env python3
"""SMTP ingest benchmark: how many messages per second `ephemail serve` stores durably.

For every run the script starts its own server (`ephemail serve`, fresh temporary data
directory, free loopback ports, optionally several workers), creates mailboxes with the CLI,
then drives it from a separate load process: an asyncio SMTP client of our own (or Postfix's
`smtp-source` with `--tool smtp-source`). Only a `250` after DATA counts as delivered; the
server sends it only after the message is committed to SQLite, and the script checks that the
number of stored rows equals the number of `250`s. The same load against Postfix `smtp-sink`
(which throws mail away) gives the no-storage ceiling of this machine and client.

Everything stays on 127.0.0.1; every loop is bounded in count and time; the servers are
stopped and the temporary directories removed on exit, Ctrl-C and errors included.

    python bench/smtp_ingest.py                 # full matrix, prints a table
    python bench/smtp_ingest.py --write-doc     # ... and updates docs/benchmarks.md
    python bench/smtp_ingest.py --quick         # smoke test: 500 messages, 1 KiB, 1 worker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import platform
import pwd
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import DOC_PATH, HOST, ROOT, free_port, raise_limits

START_MARK = "<!-- smtp-ingest:start -->"
END_MARK = "<!-- smtp-ingest:end -->"
NOTES_START = "<!-- smtp-ingest:notes:start -->"
NOTES_END = "<!-- smtp-ingest:notes:end -->"
DOC_INTRO = """# Benchmarks

Every figure here is produced by a script under `bench/` that starts its own server on
loopback ports with a fresh temporary data directory, drives it from a separate load process
on the same machine, checks what was stored against what was acknowledged, and rewrites its
own section of this file (between its `<!-- name:start -->` / `<!-- name:end -->` markers)
when run with `--write-doc`. Client and server share the machine, so the figures are for the
whole box, not for the server alone; each section names the machine and the exact command.
"""

SENDER = "from@bench.test"
ADMIN = "admin@localhost.localdomain"
MODES = ("reuse", "pipelined", "new")
TOOLS = ("own", "smtp-source")
MAX_REPLY_LINES = 100


# ---- the load client (runs in its own process) ------------------------------------------------


class SmtpReplyError(Exception):
    def __init__(self, stage: str, code: int) -> None:
        super().__init__(f"{stage} {code}")
        self.stage = stage
        self.code = code


def build_messages(size: int, mailboxes: Sequence[str]) -> list[bytes]:
    """One dot-stuffed message per mailbox of about `size` bytes, ending with CRLF.CRLF.

    The first header line is left out: each message gets its own Message-ID in front.
    """
    out: list[bytes] = []
    line = b"The quick brown fox jumps over the lazy dog; bench text for ephemail ingest.\r\n"
    for box in mailboxes:
        head = (
            f"From: Bench Sender <{SENDER}>\r\n"
            f"To: <{box}>\r\n"
            "Subject: ephemail ingest benchmark\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
        ).encode()
        body_len = max(0, size - len(head) - 48)
        body = (line * (body_len // len(line) + 1))[:body_len]
        body = body[: body.rfind(b"\r\n") + 2] if b"\r\n" in body else b"x\r\n"
        out.append(head + body + b".\r\n")
    return out


@dataclasses.dataclass
class LoadState:
    total: int
    deadline: float
    claimed: int = 0
    delivered: int = 0
    connections: int = 0
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    latencies: list[float] = dataclasses.field(default_factory=list)

    def claim(self) -> int | None:
        if self.claimed >= self.total or time.monotonic() >= self.deadline:
            return None
        self.claimed += 1
        return self.claimed - 1


class SmtpConn:
    """One SMTP connection: in lockstep like smtp-source by default; with `pipelining`, MAIL,
    RCPT and DATA go out in one write when the server offers PIPELINING, as Postfix sends."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.pipelining = False
        self.extensions: set[bytes] = set()

    @classmethod
    async def open(cls, port: int, timeout: float, *, pipelining: bool = False) -> SmtpConn:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, limit=1 << 16), timeout
        )
        conn = cls(reader, writer, timeout)
        try:
            code = await conn.reply()
            if code != 220:
                raise SmtpReplyError("banner", code)
            code = await conn.command(b"EHLO bench.test\r\n", conn.extensions)
            if code != 250:
                raise SmtpReplyError("EHLO", code)
            conn.pipelining = pipelining and b"PIPELINING" in conn.extensions
        except BaseException:
            conn.close()
            raise
        return conn

    async def reply(self, keywords: set[bytes] | None = None) -> int:
        # asyncio.timeout, not wait_for: wait_for wraps every read in a task of its own, and
        # this client shares the machine's two cores with the server it measures.
        async with asyncio.timeout(self.timeout):
            return await self._reply(keywords)

    async def _reply(self, keywords: set[bytes] | None) -> int:
        for _ in range(MAX_REPLY_LINES):
            line = await self.reader.readline()
            if not line:
                raise ConnectionResetError("server closed the connection")
            if keywords is not None:
                keywords.add(line[4:].split(None, 1)[0].upper() if line[4:].strip() else b"")
            if line[3:4] != b"-":
                try:
                    return int(line[:3])
                except ValueError as exc:
                    raise ConnectionError(f"bad reply {line[:40]!r}") from exc
        raise ConnectionError("reply too long")

    async def command(self, data: bytes, keywords: set[bytes] | None = None) -> int:
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > 1 << 16:
            await asyncio.wait_for(self.writer.drain(), self.timeout)
        return await self.reply(keywords)

    async def send_mail(self, rcpt: str, message: bytes, message_id: bytes) -> None:
        """One transaction; raises SmtpReplyError with the stage that failed."""
        if self.pipelining:
            await self._send_pipelined(rcpt, message, message_id)
            return
        code = await self.command(b"MAIL FROM:<" + SENDER.encode() + b">\r\n")
        if code != 250:
            raise SmtpReplyError("MAIL", code)
        code = await self.command(b"RCPT TO:<" + rcpt.encode() + b">\r\n")
        if code != 250:
            raise SmtpReplyError("RCPT", code)
        code = await self.command(b"DATA\r\n")
        if code != 354:
            raise SmtpReplyError("DATA", code)
        code = await self.command(message_id + message)
        if code != 250:
            raise SmtpReplyError("DATA-end", code)

    async def _send_pipelined(self, rcpt: str, message: bytes, message_id: bytes) -> None:
        """RFC 2920: the envelope in one write, then every reply in order, then the body."""
        self.writer.write(
            b"MAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<" + rcpt.encode() + b">\r\nDATA\r\n"
        )
        codes = [await self.reply() for _ in range(3)]
        for stage, code, want in zip(("MAIL", "RCPT", "DATA"), codes, (250, 250, 354), strict=True):
            if code != want:
                if codes[2] == 354:  # DATA was accepted after all: end it empty, then report
                    await self.command(b".\r\n")
                raise SmtpReplyError(stage, code)
        code = await self.command(message_id + message)
        if code != 250:
            raise SmtpReplyError("DATA-end", code)

    async def quit(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.command(b"QUIT\r\n"), min(self.timeout, 5.0))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def _error_key(exc: BaseException) -> str:
    if isinstance(exc, SmtpReplyError):
        return f"{exc.stage} {exc.code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


async def _transaction(
    state: LoadState, conn: SmtpConn, rcpt: str, message: bytes, message_id: bytes
) -> bool:
    """Send one message; True if the connection is still usable afterwards."""
    started = time.perf_counter()
    try:
        await conn.send_mail(rcpt, message, message_id)
    except SmtpReplyError as exc:
        state.errors[_error_key(exc)] += 1
        if exc.code == 421:
            return False
        try:  # a refused transaction: reset and go on over the same connection
            return await conn.command(b"RSET\r\n") == 250
        except (OSError, TimeoutError, ConnectionError):
            return False
    state.delivered += 1
    state.latencies.append(time.perf_counter() - started)
    return True


async def _session(
    state: LoadState,
    port: int,
    boxes: Sequence[str],
    messages: Sequence[bytes],
    mode: str,
    timeout: float,
    run_tag: str,
) -> None:
    conn: SmtpConn | None = None
    try:
        while (index := state.claim()) is not None:
            slot = index % len(boxes)
            message_id = f"Message-ID: <{index}.{run_tag}@bench.test>\r\n".encode()
            try:
                if conn is None:
                    conn = await SmtpConn.open(port, timeout, pipelining=mode == "pipelined")
                    state.connections += 1
                usable = await _transaction(state, conn, boxes[slot], messages[slot], message_id)
            except (SmtpReplyError, OSError, TimeoutError, ConnectionError) as exc:
                state.errors[_error_key(exc)] += 1
                usable = False
            if conn is not None and (not usable or mode == "new"):
                if usable:
                    await conn.quit()
                else:
                    conn.close()
                conn = None
    finally:
        if conn is not None:
            await conn.quit()


async def run_load(
    port: int,
    boxes: Sequence[str],
    size: int,
    total: int,
    sessions: int,
    mode: str,
    time_limit: float,
    timeout: float,
) -> dict[str, Any]:
    messages = build_messages(size, boxes)
    state = LoadState(total=total, deadline=time.monotonic() + time_limit)
    run_tag = f"{os.getpid()}.{time.time_ns()}"
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    tasks = [
        asyncio.create_task(_session(state, port, boxes, messages, mode, timeout, run_tag))
        for _ in range(sessions)
    ]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    lat = sorted(state.latencies)

    def pct(q: float) -> float | None:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else None

    return {
        "messages": total,
        "attempted": state.claimed,
        "delivered": state.delivered,
        "errors": dict(state.errors),
        "connections": state.connections,
        "elapsed": elapsed,
        "rate": state.delivered / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": lat[-1] * 1000 if lat else None,
        "mean_ms": statistics.fmean(lat) * 1000 if lat else None,
        "client_cpu": time.process_time() - cpu0,
        "timed_out": state.claimed < total,
    }


def client_main(argv: Sequence[str]) -> int:
    """Entry of the load process: reads its job as JSON, prints its result as JSON."""
    job = json.loads(argv[0])
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(
        run_load(
            int(job["port"]),
            list(job["boxes"]),
            int(job["size"]),
            int(job["messages"]),
            int(job["sessions"]),
            str(job["mode"]),
            float(job["time_limit"]),
            float(job["timeout"]),
        )
    )
    print(json.dumps(result))
    return 0


# ---- processes, ports, /proc -----------------------------------------------------------------


def listeners(port: int) -> int:
    """Listening IPv4 sockets on `port` (one per worker with SO_REUSEPORT)."""
    count = 0
    with contextlib.suppress(OSError), open("/proc/net/tcp") as handle:
        next(handle, None)
        for row in handle:
            fields = row.split()
            if len(fields) > 3 and fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):
                count += 1
    return count


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


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, via /proc/<pid>/task/<tid>/children."""
    seen: list[int] = []
    todo = [pid]
    while todo and len(seen) < 1000:
        current = todo.pop()
        if current in seen or not Path(f"/proc/{current}").exists():
            continue
        seen.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo.extend(int(c) for c in (task / "children").read_text().split())
    return seen


def proc_status_kib(pid: int, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def proc_cpu_seconds(pids: Sequence[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def machine_info() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "nproc": str(os.cpu_count() or "?"),
        "cpu": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def loadavg() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return float(Path("/proc/loadavg").read_text().split()[0])
    return None


def cpu_busy(seconds: float = 2.0) -> float | None:
    """Share of all CPUs busy over `seconds` (from /proc/stat): other work on the machine."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(limit: float, max_wait: float) -> float | None:
    """Wait (at most `max_wait` s) until other work keeps under `limit` of the CPUs busy."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy is not None and busy > limit and time.monotonic() < deadline:
        print(f"  machine {busy:.0%} busy with other work; waiting", flush=True)
        time.sleep(5)
        busy = cpu_busy()
    return busy


def src_fingerprint(src: Path) -> str:
    """A hash of every file under src/, to tell whether the code changed during the runs."""
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        with contextlib.suppress(OSError):
            digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def snapshot_head(into: Path) -> tuple[Path, str]:
    """Extract src/ of the committed HEAD (read-only `git archive`): code nobody edits mid-run."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src", commit


def source_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return f"{head}" + (" with uncommitted changes in src/" if dirty else "")


def terminate(proc: subprocess.Popen[Any], grace: float = 30.0) -> int | None:
    """SIGTERM, wait, then SIGKILL the whole process group we created for it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    return proc.returncode


def find_tool(name: str, *extra: str) -> str | None:
    for candidate in (Path(sys.executable).parent / name, *(Path(p) / name for p in extra)):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def ephemail_command() -> list[str]:
    found = find_tool("ephemail")
    if found:
        return [found]
    return [sys.executable, "-c", "from ephemail.cli import main; main()"]


class EphemailServer:
    """`ephemail serve` on free loopback ports with a fresh data directory."""

    def __init__(self, workers: int, env_extra: dict[str, str], start_timeout: float) -> None:
        self.workers = workers
        self.data_dir = Path(tempfile.mkdtemp(prefix="ephemail-bench-"))
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EPHEMAIL_")}
        self.env.update(
            EPHEMAIL_DATA_DIR=str(self.data_dir),
            EPHEMAIL_SMTP_HOST=HOST,
            EPHEMAIL_HTTP_HOST=HOST,
            EPHEMAIL_MAILBOX_MESSAGE_CAP="1000000",
        )
        self.env.update(env_extra)
        if "PYTHONPATH" in env_extra and os.environ.get("PYTHONPATH"):
            self.env["PYTHONPATH"] = env_extra["PYTHONPATH"] + os.pathsep + os.environ["PYTHONPATH"]
        self.start_timeout = start_timeout
        self.log_path = self.data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "ephemail.db"

    def start(self) -> None:
        cmd = [
            *ephemail_command(),
            "serve",
            "--smtp-port",
            str(self.smtp_port),
            "--http-port",
            str(self.http_port),
            "--workers",
            str(self.workers),
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"ephemail serve exited {self.proc.returncode}:\n{self.log_tail()}"
                )
            if listeners(self.smtp_port) >= self.workers and smtp_banner_ok(self.smtp_port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"ephemail serve did not answer within {self.start_timeout}s")

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        done = subprocess.run(
            [*ephemail_command(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ephemail {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def create_mailboxes(self, count: int, parallel: int = 4) -> list[str]:
        raise_limits(self)
        boxes: list[str] = []
        cmd = [*ephemail_command(), "mailbox", "create", ADMIN]
        for start in range(0, count, parallel):
            procs = [
                subprocess.Popen(
                    cmd,
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    text=True,
                )
                for _ in range(min(parallel, count - start))
            ]
            for proc in procs:
                try:
                    out, err = proc.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
                    raise
                addresses = [w for w in out.split() if "@" in w]
                if proc.returncode != 0 or not addresses:
                    raise RuntimeError(f"mailbox create failed: {err.strip() or out.strip()}")
                boxes.append(addresses[-1])
        return boxes

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def rss(self) -> tuple[int, list[int]]:
        per = [proc_status_kib(pid, "VmRSS") for pid in self.pids()]
        return sum(per), per

    def stored(self) -> int:
        conn = sqlite3.connect(self.db_path, timeout=30)
        try:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
        finally:
            conn.close()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> int | None:
        return terminate(self.proc) if self.proc else None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class SinkServer:
    """Postfix smtp-sink: takes mail and throws it away, the no-storage ceiling."""

    def __init__(self, binary: str, start_timeout: float = 20.0) -> None:
        self.binary = binary
        self.smtp_port = free_port()
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [self.binary]
        if os.geteuid() == 0:  # smtp-sink refuses to run as root without a user to become
            cmd += ["-u", pwd.getpwuid(0).pw_name]
        cmd += ["-m", "1024", f"{HOST}:{self.smtp_port}", "1024"]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"smtp-sink exited {self.proc.returncode}")
            if smtp_banner_ok(self.smtp_port):
                return
            time.sleep(0.05)
        raise RuntimeError("smtp-sink did not answer")

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def cleanup(self) -> None:
        if self.proc:
            terminate(self.proc, grace=5.0)


class NullServer(SinkServer):
    """bench/null_smtp.py: an SMTP front that stores nothing (ours, or aiosmtpd for
    reference), so the protocol's own cost is measured with the same client."""

    def __init__(self, impl: str, start_timeout: float = 20.0) -> None:
        super().__init__(sys.executable, start_timeout)
        self.impl = impl

    def start(self) -> None:
        cmd = [self.binary, str(ROOT / "bench" / "null_smtp.py"), "--impl", self.impl]
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(self.smtp_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"null_smtp.py --impl {self.impl} exited {self.proc.returncode}")
            if smtp_banner_ok(self.smtp_port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"null_smtp.py --impl {self.impl} did not answer")


REFERENCES = {"aiosmtpd-null": "aiosmtpd", "front-null": "ours"}


# ---- one measured run ------------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    target: str  # ephemail | smtp-sink
    tool: str
    workers: int
    size: int
    mode: str
    messages: int
    delivered: int = 0
    attempted: int = 0
    errors: dict[str, int] = dataclasses.field(default_factory=dict)
    elapsed: float = 0.0
    rate: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    connections: int = 0
    client_cpu: float | None = None
    server_cpu: float | None = None
    rss_kib: int | None = None
    rss_per_process: list[int] = dataclasses.field(default_factory=list)
    stored: int | None = None
    timed_out: bool = False
    loadavg: float | None = None  # 1-minute load average when the run started
    busy_before: float | None = None  # share of CPUs busy with other work just before
    note: str = ""

    @property
    def stored_ok(self) -> bool:
        return self.stored is not None and self.stored == self.delivered and self.delivered > 0


def drive_own_client(
    port: int, boxes: Sequence[str], size: int, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    job = {
        "port": port,
        "boxes": list(boxes),
        "size": size,
        "messages": args.messages,
        "sessions": args.sessions,
        "mode": mode,
        "time_limit": args.time_limit,
        "timeout": args.op_timeout,
    }
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "_client", json.dumps(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=args.time_limit + args.op_timeout * 4 + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError("the load client did not finish in time") from None
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed ({proc.returncode}): {err.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def drive_smtp_source(
    binary: str, port: int, rcpt: str, size: int, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    cmd = [binary, "-c"] + (["-d"] if mode != "new" else [])
    cmd += [
        "-s",
        str(args.sessions),
        "-m",
        str(args.messages),
        "-l",
        str(size),
        "-f",
        SENDER,
        "-t",
        rcpt,
        f"{HOST}:{port}",
    ]
    usage0 = os.times()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=args.time_limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, err = proc.communicate()
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    elapsed = time.perf_counter() - t0
    usage1 = os.times()
    counts = re.findall(rb"(\d+)\r", out)
    delivered = int(counts[-1]) if counts else 0
    errors: dict[str, int] = {}
    if proc.returncode != 0 and not timed_out:
        found = re.search(rb"(\d{3}) [\d.]* ?", err)
        errors[f"fatal {found.group(1).decode() if found else proc.returncode}"] = 1
    return {
        "messages": args.messages,
        "attempted": args.messages,
        "delivered": delivered,
        "errors": errors,
        "connections": 0,
        "elapsed": elapsed,
        "rate": delivered / elapsed if elapsed > 0 else 0.0,
        "p50_ms": None,
        "p99_ms": None,
        "client_cpu": (usage1.children_user + usage1.children_system)
        - (usage0.children_user + usage0.children_system),
        "timed_out": timed_out,
    }


def drive(
    tool: str, port: int, boxes: Sequence[str], size: int, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    if tool == "smtp-source":
        return drive_smtp_source(args.smtp_source, port, boxes[0], size, mode, args)
    return drive_own_client(port, boxes, size, mode, args)


def apply(result: RunResult, load: dict[str, Any]) -> None:
    for key in (
        "delivered",
        "attempted",
        "errors",
        "elapsed",
        "rate",
        "p50_ms",
        "p99_ms",
        "connections",
        "client_cpu",
        "timed_out",
    ):
        setattr(result, key, load.get(key, getattr(result, key)))


def start_profiler(
    args: argparse.Namespace, pid: int, label: str
) -> subprocess.Popen[bytes] | None:
    if not args.profile:
        return None
    spy = find_tool("py-spy")
    if spy is None:
        print("  (py-spy not found: no profile)", file=sys.stderr)
        return None
    out = Path(args.profile) / f"{label}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        spy,
        "record",
        "--format",
        "raw",
        "--rate",
        str(PROFILE_RATE),
        "--subprocesses",
        "--threads",
        "--nonblocking",
        "-o",
        str(out),
        "--pid",
        str(pid),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    time.sleep(1.0)  # let it attach before the load starts
    return proc


def stop_profiler(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# Each sample goes to the first bucket one of whose markers is in its stack, so the shares
# add up to 100%: the specific components first, the generic layers under them last.
PROFILE_BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("MIME parse (parse_message)", ("ephemail/mail/parse/",)),
    ("message ids (new_message_id)", ("new_message_id (",)),
    ("rest of prepare (zstd, sha256)", ("prepare (ephemail/mail/prepare.py",)),
    ("RCPT lookup (resolve + SQL)", ("resolve (ephemail/mail/delivery.py",)),
    ("commit client (SQLite)", ("ephemail/store/ingest/commit_client.py",)),
    ("writer SQL (_write + commit)", ("_commit (ephemail/store/ingest/pg_writer.py",)),
    ("commit process (SQLite insert + fsync)", ("ephemail/store/ingest/commit_process.py",)),
    ("logging", ("logging/__init__.py",)),
    ("SMTP front (protocol + adapter)", ("ephemail/mail/smtp",)),
    ("aiosmtpd protocol", ("aiosmtpd/",)),
    ("aiosqlite threads / SQLAlchemy other", ("aiosqlite/", "sqlalchemy/")),
    ("HTTP (uvicorn) and sweeper", ("uvicorn/", "sweeper")),
)
PROFILE_RATE = 200


def summarise_profile(path: Path, cpu_per_msg_us: float | None, top: int = 12) -> str:
    """On-CPU samples (all threads) per component: share, and that share of the CPU/msg."""
    total = 0
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        leaves[re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1])] += count
        name = next(
            (n for n, needles in PROFILE_BUCKETS if any(x in stack for x in needles)),
            "event loop (uvloop C), asyncio, other",
        )
        buckets[name] += count
    if not total:
        return f"  profile {path.name}: no samples"

    def per_msg(count: int) -> str:
        return f"{cpu_per_msg_us * count / total:6.0f} us/msg" if cpu_per_msg_us else ""

    lines = [
        f"  profile {path.name}: {total} on-CPU samples at {PROFILE_RATE} Hz, all threads; "
        f"us/msg = share x measured server CPU per message ({cpu_per_msg_us or 0:.0f} us)",
    ]
    lines += [
        f"    {n:40s} {100 * c / total:5.1f}%  {per_msg(c)}" for n, c in buckets.most_common()
    ]
    lines.append("    top leaf functions (self time):")
    lines += [f"      {100 * c / total:5.1f}%  {n[-110:]}" for n, c in leaves.most_common(top)]
    return "\n".join(lines)


def run_ephemail(
    tool: str, size: int, workers: int, mode: str, args: argparse.Namespace
) -> RunResult:
    result = RunResult("ephemail", tool, workers, size, mode, args.messages)
    env = {"EPHEMAIL_SQLITE_SYNCHRONOUS": args.synchronous}
    if args.snapshot_src is not None:
        env["PYTHONPATH"] = str(args.snapshot_src)
    if args.writer_batch:
        env["EPHEMAIL_WRITER_BATCH"] = str(args.writer_batch)
    if args.server_log_level:
        env["EPHEMAIL_LOG_LEVEL"] = args.server_log_level
    server = EphemailServer(workers, env, args.start_timeout)
    profiler: subprocess.Popen[bytes] | None = None
    label = f"ephemail-{tool}-{size}-{workers}w-{mode}"
    try:
        server.start()
        boxes = server.create_mailboxes(args.mailboxes)
        assert server.proc is not None
        profiler = start_profiler(args, server.proc.pid, label)
        pids = server.pids()
        cpu0 = proc_cpu_seconds(pids)
        load = drive(tool, server.smtp_port, boxes, size, mode, args)
        result.server_cpu = proc_cpu_seconds(pids) - cpu0
        stop_profiler(profiler)
        profiler = None
        apply(result, load)
        if args.profile and (Path(args.profile) / f"{label}.txt").exists():
            cpu_us = 1e6 * result.server_cpu / result.delivered if result.delivered else None
            print(summarise_profile(Path(args.profile) / f"{label}.txt", cpu_us))
        result.rss_kib, result.rss_per_process = server.rss()
        result.stored = server.stored()
        code = server.stop()
        if code not in (0, None):
            result.note = f"server exit {code}"
        for line in server.log_tail(40).splitlines():
            # each worker logs its batches on stop, the commit process its commits
            if "writer:" in line or "commit process:" in line:
                print(f"  {line.strip()}")
    except Exception as exc:
        result.note = f"failed: {exc}"
        print(f"  run failed: {exc}\n{server.log_tail()}", file=sys.stderr)
    finally:
        if profiler is not None:
            profiler.kill()
            profiler.wait()
        server.cleanup()
    return result


def run_sink(
    tool: str, size: int, mode: str, args: argparse.Namespace, target: str = "smtp-sink"
) -> RunResult:
    result = RunResult(target, tool, 1, size, mode, args.messages)
    sink = SinkServer(args.smtp_sink) if target == "smtp-sink" else NullServer(REFERENCES[target])
    boxes = [f"box{i}@sink.test" for i in range(args.mailboxes)]
    try:
        sink.start()
        pids = sink.pids()
        cpu0 = proc_cpu_seconds(pids)
        apply(result, drive(tool, sink.smtp_port, boxes, size, mode, args))
        result.server_cpu = proc_cpu_seconds(pids) - cpu0
    except Exception as exc:
        result.note = f"failed: {exc}"
        print(f"  {target} run failed: {exc}", file=sys.stderr)
    finally:
        sink.cleanup()
    return result


# ---- report ----------------------------------------------------------------------------------


def human_size(size: int) -> str:
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def errors_text(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none"


def sink_for(results: Sequence[RunResult], mine: RunResult) -> RunResult | None:
    """The smtp-sink run with the same client, size and connection mode."""
    return next(
        (
            r
            for r in results
            if r.target == "smtp-sink"
            and (r.tool, r.size, r.mode) == (mine.tool, mine.size, mine.mode)
        ),
        None,
    )


def tool_name(tool: str) -> str:
    return "smtp-source" if tool == "smtp-source" else "own"


def result_line(r: RunResult) -> str:
    """One machine-readable line per run (the smoke test reads these)."""
    ok = "ok" if r.target != "ephemail" or r.stored_ok else "MISMATCH"
    stored = r.stored if r.stored is not None else "-"
    return (
        f"RESULT target={r.target} tool={r.tool} size={r.size} workers={r.workers} "
        f"mode={r.mode} "
        f"rate={r.rate:.1f} delivered={r.delivered} stored={stored} "
        f"errors={sum(r.errors.values())} check={ok}"
    )


def print_table(results: Sequence[RunResult]) -> None:
    head = (
        f"{'target':10s} {'client':11s} {'size':>7s} {'wk':>3s} {'conn':>9s} {'msg/s':>9s} "
        f"{'p50ms':>7s} "
        f"{'p99ms':>7s} {'srvCPU/msg':>11s} {'cliCPU':>7s} {'RSS MiB':>8s} {'stored':>7s} "
        f"{'acked':>7s} {'vs sink':>8s} {'busy':>5s}  errors"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        sink = sink_for(results, r) if r.target == "ephemail" else None
        ratio = f"{r.rate / sink.rate:.3f}" if sink and sink.rate else "-"
        per_msg = (
            f"{1e6 * r.server_cpu / r.delivered:.0f}us" if r.server_cpu and r.delivered else "-"
        )
        print(
            f"{r.target:10s} {tool_name(r.tool):11s} {human_size(r.size):>7s} {r.workers:>3d} "
            f"{r.mode:>9s} "
            f"{r.rate:>9.1f} {fmt(r.p50_ms):>7s} {fmt(r.p99_ms):>7s} {per_msg:>11s} "
            f"{fmt(r.client_cpu):>7s} "
            f"{fmt(r.rss_kib / 1024 if r.rss_kib else None):>8s} "
            f"{r.stored if r.stored is not None else '-':>7} {r.delivered:>7d} {ratio:>8s} "
            f"{fmt(100 * r.busy_before if r.busy_before is not None else None, '.0f'):>4s}%  "
            f"{errors_text(r.errors)}{'  [' + r.note + ']' if r.note else ''}"
        )
    print()
    for line in reference_ratios(results):
        print(line)
    print()
    for r in results:
        print(result_line(r))


def reference_ratios(results: Sequence[RunResult]) -> list[str]:
    """Same run, same client: our front storing nothing against aiosmtpd storing nothing,
    and ephemail storing durably against our front storing nothing."""
    lines = []
    for r in results:
        if r.target != "front-null":
            continue
        key = (r.tool, r.size, r.mode)
        aio = next(
            (a for a in results if a.target == "aiosmtpd-null" and (a.tool, a.size, a.mode) == key),
            None,
        )
        if aio is not None and aio.rate:
            lines.append(
                f"front storing nothing / aiosmtpd storing nothing, {tool_name(r.tool)} "
                f"{human_size(r.size)} {r.mode}: {r.rate:,.0f} / {aio.rate:,.0f} msg/s = "
                f"{r.rate / aio.rate:.2f}x"
            )
        for mine in results:
            if mine.target == "ephemail" and (mine.tool, mine.size, mine.mode) == key and r.rate:
                lines.append(
                    f"ephemail ({mine.workers} worker(s), durable) / front storing nothing, "
                    f"{tool_name(r.tool)} {human_size(r.size)} {r.mode}: {mine.rate:,.0f} / "
                    f"{r.rate:,.0f} msg/s = {mine.rate / r.rate:.2f}"
                )
    return lines


def doc_section(
    results: Sequence[RunResult], args: argparse.Namespace, command: str, notes: str
) -> str:
    info = machine_info()
    ours = [r for r in results if r.target == "ephemail"]
    sinks = [r for r in results if r.target == "smtp-sink"]
    lines = [
        START_MARK,
        "## SMTP ingest",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, "
        f"Linux {info['kernel']}, Python {info['python']}; load client, server and smtp-sink "
        "all on this machine over 127.0.0.1.",
        (
            f"- Code measured: commit {args.snapshot_commit} (`--snapshot`: src/ of HEAD "
            "extracted with `git archive`, uncommitted changes not included)."
            if args.snapshot_commit
            else f"- Code measured: the working tree, {source_state()}"
            + (
                "."
                if args.src_before == src_fingerprint(args.src_root)
                else " — **src/ changed while the runs were going on**: rows mix code versions."
            )
        ),
        f"- Command: `{command}`",
        f"- Load: {args.messages} messages per run, {args.sessions} concurrent SMTP sessions, "
        f"recipients round-robin over {args.mailboxes} mailboxes (one RCPT per message), "
        "text/plain messages of the stated size. Clients, each in its own process: *own* is "
        "`bench/smtp_ingest.py`'s asyncio client (uvloop); *smtp-source* is Postfix's C load "
        "generator (`smtp-source -d -s 10 -m 20000 -l SIZE`), which sends every message to "
        "one mailbox and does not pipeline. *reuse*: each session sends all its messages over one "
        "connection, in lockstep (MAIL, wait, RCPT, wait, DATA, wait, body, wait); "
        "*pipelined*: the same, but MAIL, RCPT and DATA go out in one write when the server "
        "advertises PIPELINING (RFC 2920), as Postfix sends; *new*: a new connection per "
        "message, lockstep (connect, EHLO, MAIL, RCPT, DATA, QUIT).",
        f"- Server: `ephemail serve`, SQLite in a fresh temp dir, "
        f"`EPHEMAIL_SQLITE_SYNCHRONOUS={args.synchronous}`, "
        + (f"`EPHEMAIL_WRITER_BATCH={args.writer_batch}`, " if args.writer_batch else "")
        + f"log level {args.server_log_level or 'default (info)'}; with SQLite, one commit "
        "process writes for all workers (its RSS is the last number in the RSS column). A "
        "message counts only when `250` came after DATA, which the server sends after the "
        "commit.",
        "",
        "| client | size | workers | connections | msg/s | p50 ms | p99 ms | server CPU per msg "
        "| client CPU per msg | RSS after (MiB) | acked | stored | stored == acked | errors "
        "| other CPU load before |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ours:
        per_msg = (
            f"{1e6 * r.server_cpu / r.delivered:.0f} µs" if r.server_cpu and r.delivered else "-"
        )
        rss = f"{r.rss_kib / 1024:.0f}" if r.rss_kib else "-"
        if len(r.rss_per_process) > 1:
            rss += " (" + " + ".join(f"{k / 1024:.0f}" for k in r.rss_per_process) + ")"
        client_per_msg = (
            f"{1e6 * r.client_cpu / r.delivered:.0f} µs" if r.client_cpu and r.delivered else "-"
        )
        lines.append(
            f"| {tool_name(r.tool)} | {human_size(r.size)} | {r.workers} | {r.mode} | "
            f"**{r.rate:,.0f}** | {fmt(r.p50_ms)} | {fmt(r.p99_ms)} | {per_msg} | "
            f"{client_per_msg} | {rss} | {r.delivered} | "
            f"{r.stored if r.stored is not None else '-'} | {'yes' if r.stored_ok else 'NO'} | "
            f"{errors_text(r.errors)}{' — ' + r.note if r.note else ''} | "
            f"{fmt(100 * r.busy_before if r.busy_before is not None else None, '.0f')}% |"
        )
    if sinks:
        lines += [
            "",
            "Same load against Postfix `smtp-sink` (accepts and discards, no storage): the "
            "ceiling of each client on this machine.",
            "",
            "| client | size | connections | smtp-sink msg/s | ephemail 1 worker | ratio | "
            "ephemail 2 workers | ratio |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in sinks:
            cells = [tool_name(s.tool), human_size(s.size), s.mode, f"{s.rate:,.0f}"]
            for workers in (1, 2):
                mine = next(
                    (
                        r
                        for r in ours
                        if (r.tool, r.size, r.mode, r.workers) == (s.tool, s.size, s.mode, workers)
                    ),
                    None,
                )
                if mine is None or not s.rate:
                    cells += ["-", "-"]
                else:
                    cells += [f"{mine.rate:,.0f}", f"{mine.rate / s.rate:.3f}"]
            lines.append("| " + " | ".join(cells) + " |")
    references = [r for r in results if r.target in REFERENCES]
    if references:
        lines += [
            "",
            "Reference rows from the same run, storing nothing (`bench/null_smtp.py`: every "
            "recipient accepted without a look-up, every message answered `250` unparsed): "
            "aiosmtpd, the library ephemail used before, and ephemail's own SMTP front.",
            "",
            "| server | client | size | connections | msg/s | server CPU per msg |",
            "|---|---|---|---|---|---|",
        ]
        for r in references:
            per_msg = (
                f"{1e6 * r.server_cpu / r.delivered:.0f} µs"
                if r.server_cpu and r.delivered
                else "-"
            )
            lines.append(
                f"| {r.target} | {tool_name(r.tool)} | {human_size(r.size)} | {r.mode} | "
                f"{r.rate:,.0f} | {per_msg} |"
            )
        lines += ["", *(f"- {line}" for line in reference_ratios(results))]
    loads = [r.loadavg for r in results if r.loadavg is not None]
    busy = [r.busy_before for r in results if r.busy_before is not None]
    if loads and busy:
        lines += [
            "",
            f"Other work on the machine just before each run: {min(busy):.0%} to "
            f"{max(busy):.0%} of the CPUs busy (1-minute load average {min(loads):.1f} to "
            f"{max(loads):.1f}); the machine is shared, so expect some noise.",
        ]
    for tool in dict.fromkeys(r.tool for r in ours):
        target = [r for r in ours if r.tool == tool and r.size == 1024 and r.mode != "new"]
        if target:
            best_run = max(target, key=lambda r: r.rate)
            best = best_run.rate
            lines += [
                "",
                f"Target ≥ 3,000 msg/s for 1 KiB, {tool_name(tool)} client: best measured "
                f"{best:,.0f} msg/s ({best_run.workers} worker(s), {best_run.mode}) — "
                + ("met." if best >= 3000 else f"**not met** ({best / 3000:.0%} of target)."),
            ]
    lines += [
        "",
        "### Where the time goes",
        "",
        NOTES_START,
        notes.strip()
        or "_No profile notes yet: run with `--profile DIR` (needs py-spy) and write them here._",
        NOTES_END,
        END_MARK,
    ]
    return "\n".join(lines) + "\n"


def existing_notes(text: str) -> str:
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start == -1 or end == -1 or end < start:
        return ""
    return text[start + len(NOTES_START) : end].strip()


def write_doc(results: Sequence[RunResult], args: argparse.Namespace, command: str) -> None:
    path = Path(args.doc)
    text = path.read_text() if path.exists() else DOC_INTRO
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start != -1 and end != -1 and end > start:
        notes = existing_notes(text[start:end])
        section = doc_section(results, args, command, notes)
        text = text[:start] + section.rstrip("\n") + text[end + len(END_MARK) :]
    else:
        section = doc_section(results, args, command, "")
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
    print(f"updated {path}")


# ---- command line ----------------------------------------------------------------------------


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)(i?[bB])?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (use e.g. 1024, 1k, 50k)")
    value = int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    if not 64 <= value <= 10 * 1024 * 1024:
        raise argparse.ArgumentTypeError("size must be between 64 bytes and 10 MiB")
    return value


def bounded(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="SMTP ingest benchmark for ephemail (loopback only). With no options it "
        "runs the full matrix: 1 KiB and 50 KiB, 1 and 2 workers, reused and new connections, "
        "plus the same load against Postfix smtp-sink.",
    )
    parser.add_argument(
        "--messages",
        "-n",
        type=bounded(1, 1_000_000),
        default=20_000,
        help="messages per run (default 20000)",
    )
    parser.add_argument(
        "--sessions",
        "-s",
        type=bounded(1, 500),
        default=10,
        help="concurrent SMTP sessions (default 10)",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        nargs="+",
        default=[1024, 50 * 1024],
        help="message sizes, e.g. 1k 50k (default both)",
    )
    parser.add_argument(
        "--workers",
        type=bounded(1, 64),
        nargs="+",
        default=[1, 2],
        help="server worker counts (default 1 2)",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        nargs="+",
        default=list(MODES),
        help="reuse: many messages per connection, lockstep; pipelined: the same with "
        "PIPELINING; new: a connection per message (default all three)",
    )
    parser.add_argument(
        "--mailboxes",
        "-k",
        type=bounded(1, 1000),
        default=20,
        help="recipient mailboxes, used round-robin (default 20)",
    )
    parser.add_argument(
        "--tool",
        choices=TOOLS,
        nargs="+",
        default=list(TOOLS),
        help="load generators: our asyncio client and/or Postfix smtp-source (which sends to "
        "the first mailbox only and has no pipelined mode); default both",
    )
    parser.add_argument("--no-sink", action="store_true", help="skip the smtp-sink comparison")
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the two reference rows storing nothing: aiosmtpd, and our SMTP front "
        "(bench/null_smtp.py)",
    )
    parser.add_argument(
        "--synchronous",
        default="FULL",
        choices=("FULL", "NORMAL", "EXTRA"),
        help="EPHEMAIL_SQLITE_SYNCHRONOUS for the server (default FULL)",
    )
    parser.add_argument(
        "--writer-batch",
        type=bounded(1, 100_000),
        default=None,
        help="EPHEMAIL_WRITER_BATCH for the server (PostgreSQL only: on SQLite the commit "
        "process takes everything waiting)",
    )
    parser.add_argument(
        "--server-log-level",
        default=None,
        help="EPHEMAIL_LOG_LEVEL for the server (default: server's, info)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=600.0, help="seconds at most per load run (default 600)"
    )
    parser.add_argument(
        "--op-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for one SMTP reply (default 30)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the server to answer (default 60)",
    )
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="run the server from src/ of the committed HEAD (git archive into a temp dir), "
        "not from the working tree that others may be editing",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="PCT",
        default=None,
        help="before each run, wait until other work keeps under PCT%% of the CPUs busy",
    )
    parser.add_argument(
        "--quiet-max-wait",
        type=float,
        default=300.0,
        help="seconds at most to wait for --wait-quiet per run (default 300)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 500 messages, 1 KiB, 1 worker, both modes, 5 mailboxes",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        default=None,
        help="record each ephemail run with py-spy (raw stacks in DIR) and "
        "print where the time goes",
    )
    parser.add_argument("--json", metavar="FILE", default=None, help="also write results as JSON")
    parser.add_argument(
        "--write-doc",
        action="store_true",
        help="update the smtp-ingest section of docs/benchmarks.md",
    )
    parser.add_argument("--doc", default=str(DOC_PATH), help=argparse.SUPPRESS)
    return parser


def plan(args: argparse.Namespace) -> Iterator[tuple[str, str, int, int, str]]:
    """(target, tool, size, workers, mode) in the order they run."""
    for tool in args.tool:
        for size in args.size:
            for mode in args.mode:
                if tool == "smtp-source" and mode == "pipelined":
                    continue
                if not args.no_sink:
                    yield "smtp-sink", tool, size, 1, mode
                if not args.no_reference:
                    yield "aiosmtpd-null", tool, size, 1, mode
                    yield "front-null", tool, size, 1, mode
                for workers in args.workers:
                    yield "ephemail", tool, size, workers, mode


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_client"]:
        return client_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = min(args.messages, 500)
        args.size, args.workers, args.mailboxes = [1024], [1], min(args.mailboxes, 5)
        args.tool = args.tool if "--tool" in argv else ["own"]
        args.no_reference = True  # the reference rows are for full runs
    args.smtp_sink = find_tool("smtp-sink", "/usr/sbin", "/usr/lib/postfix/sbin")
    args.smtp_source = find_tool("smtp-source", "/usr/sbin", "/usr/lib/postfix/sbin")
    if "smtp-source" in args.tool and not args.smtp_source:
        if args.tool == ["smtp-source"]:
            parser.error("smtp-source not found (Debian package postfix)")
        print("smtp-source not found (Debian package postfix): own client only", file=sys.stderr)
        args.tool = [t for t in args.tool if t != "smtp-source"]
    if not args.no_sink and not args.smtp_sink:
        print(
            "smtp-sink not found (Debian package postfix): skipping the comparison", file=sys.stderr
        )
        args.no_sink = True
    command = "python bench/smtp_ingest.py " + " ".join(shlex.quote(a) for a in argv)
    snapshot_dir: Path | None = None
    args.snapshot_src = args.snapshot_commit = None
    args.src_root = ROOT / "src"
    if args.snapshot:
        snapshot_dir = Path(tempfile.mkdtemp(prefix="ephemail-bench-src-"))
        try:
            args.snapshot_src, args.snapshot_commit = snapshot_head(snapshot_dir)
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
            shutil.rmtree(snapshot_dir, ignore_errors=True)
            parser.error(f"cannot snapshot HEAD with git archive: {exc}")
        args.src_root = args.snapshot_src
        print(f"measuring commit {args.snapshot_commit} from {args.snapshot_src}", flush=True)
    args.src_before = src_fingerprint(args.src_root)

    def on_term(signum: int, _frame: Any) -> None:
        # Once: a second signal must not interrupt the cleanup the first one started.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    results: list[RunResult] = []
    steps = list(plan(args))
    try:
        for number, (target, tool, size, workers, mode) in enumerate(steps, 1):
            print(
                f"[{number}/{len(steps)}] {target} client={tool_name(tool)} "
                f"size={human_size(size)} workers={workers} "
                f"connections={mode} messages={args.messages} sessions={args.sessions}",
                flush=True,
            )
            busy = (
                wait_quiet(args.wait_quiet / 100, args.quiet_max_wait)
                if args.wait_quiet is not None
                else cpu_busy()
            )
            load_before = loadavg()
            if target == "smtp-sink" or target in REFERENCES:
                result = run_sink(tool, size, mode, args, target)
            else:
                result = run_ephemail(tool, size, workers, mode, args)
            result.loadavg = load_before
            result.busy_before = busy
            results.append(result)
            print(f"  {result_line(result)}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if snapshot_dir is not None:
            shutil.rmtree(snapshot_dir, ignore_errors=True)
    print()
    print_table(results)
    if args.json:
        Path(args.json).write_text(
            json.dumps([dataclasses.asdict(r) for r in results], indent=2) + "\n"
        )
    if args.snapshot_commit is None and args.src_before != src_fingerprint(args.src_root):
        print("warning: files under src/ changed during the runs", file=sys.stderr)
    if args.write_doc:
        write_doc(results, args, command)
    ours = [r for r in results if r.target == "ephemail"]
    failed = [r for r in ours if not r.stored_ok]
    if failed:
        print(f"{len(failed)} run(s) failed the stored == acked > 0 check", file=sys.stderr)
    return 1 if failed or not ours else 0


if __name__ == "__main__":
    sys.exit(main())
