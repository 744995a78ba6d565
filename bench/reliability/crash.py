#!/usr/bin/env python3
"""Crash safety: kill the server under SMTP load; no acknowledged message may be lost.

Starts `ephemail serve` on free loopback ports with a fresh temporary data directory, creates
a few mailboxes, and drives SMTP load from a pool of threads (sessions that reuse their
connection; every message unique). At a random moment it SIGKILLs the server's whole process
group, checks the SQLite file (`PRAGMA integrity_check`, foreign keys, no half-stored message),
checks that every message answered `250` in that cycle is stored intact, restarts the server
on the same data directory and ports, and goes on. A SIGTERM phase then stops the server
gracefully under load: it must exit 0 within the grace period, and clients must see only
`250`, `421` or a closed connection. A final audit re-checks every acknowledged message.

"Intact" is exact: the stored raw message (zstd in `message_raw`) must decompress to the very
bytes the client meant to send, i.e. the DATA payload before dot-stuffing, ending in CRLF,
and the stored SHA-256 must equal theirs.

    python bench/reliability/crash.py                     # 50 SIGKILL + 5 SIGTERM cycles
    python bench/reliability/crash.py --quick             # 3 + 2 cycles, well under a minute
    python bench/reliability/crash.py --write-doc         # ... and update docs/reliability.md

Exit status: 0 when nothing was lost, corrupted or half-stored and every graceful stop was
clean; 1 otherwise; 2 when the harness itself could not run.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import random
import shutil
import signal
import smtplib
import sqlite3
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, which holds lib/

from lib.docs import RELIABILITY, today, write_section
from lib.machine import machine
from lib.server import HOST, Server, server_env, start_server
from lib.source import source_state

DOC_SECTION = "crash"
FULL_COMMAND = "python bench/reliability/crash.py --kills 50 --sigterm 5 --write-doc"
SENDER = "crash-harness@harness.test"
SOCKET_TIMEOUT = 15.0  # an SMTP reply slower than this counts as a cut connection
SERVER_GRACE = 10.0  # Service.stop(grace=10.0) in src/ephemail/service.py


# ---- the server ----------------------------------------------------------------------------


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


class Target:
    """The server under test: one data directory and one pair of ports for the whole run."""

    def __init__(self, workers: int, keep_data: bool) -> None:
        self.workers = workers
        self.keep_data = keep_data
        self.data_dir = Path(tempfile.mkdtemp(prefix="ephemail-crash-"))
        self.db_path = self.data_dir / "ephemail.db"
        self.env = server_env(
            self.data_dir,
            {"EPHEMAIL_MAILBOX_MESSAGE_CAP": "100000000", "EPHEMAIL_SQLITE_SYNCHRONOUS": "FULL"},
        )
        self.smtp_port = int(self.env["EPHEMAIL_SMTP_PORT"])
        self.server: Server | None = None
        self.admin_key = ""

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.process.poll() is None

    def start(self) -> float:
        """Start (or restart) on the same directory and ports; returns seconds to ready."""
        began = time.monotonic()
        self.server = start_server(self.data_dir, self.env, self.workers)
        self.admin_key = self.admin_key or self.server.admin_key
        return time.monotonic() - began

    def signal_group(self, signum: int) -> None:
        assert self.server is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.process.pid, signum)

    def wait_exit(self, timeout: float) -> int | None:
        """The main process's exit code, or None if it still runs after `timeout` seconds."""
        assert self.server is not None
        try:
            return self.server.process.wait(timeout=timeout)
        except Exception:
            return None

    def wait_group_gone(self, timeout: float) -> bool:
        assert self.server is not None
        deadline = time.monotonic() + timeout
        while group_members(self.server.process.pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def kill_now(self) -> None:
        """SIGKILL the whole group and reap it (used for cleanup and after a failed stop)."""
        if self.server is None:
            return
        self.signal_group(signal.SIGKILL)
        self.wait_exit(10)
        self.wait_group_gone(10)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = (self.data_dir / "server.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.kill_now()
        if self.keep_data:
            print(f"kept the data directory: {self.data_dir}", flush=True)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def create_mailboxes(self, count: int) -> list[str]:
        assert self.server is not None
        self.server.admin_key = self.admin_key
        boxes = self.server.create_mailboxes(count)
        self.admin_key = self.server.admin_key
        return boxes


# ---- the load ------------------------------------------------------------------------------


@dataclass(slots=True)
class Attempt:
    """One message whose transaction got as far as a reply or the DATA command."""

    cycle: int
    rcpt: str
    sha256: str
    outcome: str  # acked | refused | in_doubt (cut after DATA was sent, no final reply)
    message_id: str = ""
    code: int = 0
    stage: str = ""  # where a refusal came: MAIL, RCPT, DATA (command) or END (after data)


def build_message(rng: random.Random, rcpt: str, tag: str) -> bytes:
    """A unique message, CRLF lines only, ending in CRLF: the bytes the server must keep.

    The body is random base64 text with some lines that start with a dot (and lone dots),
    so dot-stuffing is exercised both ways. One in twenty messages is ~64 KiB, which widens
    the window in which a kill lands mid-DATA.
    """
    size = rng.randint(48 * 1024, 80 * 1024) if rng.random() < 0.05 else rng.randint(200, 3000)
    text = base64.b64encode(rng.randbytes(size)).decode("ascii")
    body = [text[i : i + 76] for i in range(0, len(text), 76)]
    for i in range(0, len(body), 9):
        body[i] = "." + body[i]
    body.insert(len(body) // 2, ".")
    head = [
        "From: Crash Harness <crash-harness@harness.test>",
        f"To: <{rcpt}>",
        f"Subject: crash {tag}",
        f"Message-ID: <{tag}@harness.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
    ]
    return ("\r\n".join(head + body) + "\r\n").encode("ascii")


class Load:
    """SMTP sessions in threads; each reuses its connection for a while, then reconnects."""

    def __init__(
        self, port: int, mailboxes: Sequence[str], cycle: int, sessions: int, seed: str
    ) -> None:
        self.port = port
        self.mailboxes = list(mailboxes)
        self.cycle = cycle
        self.sessions = sessions
        self.seed = seed
        self.stop = threading.Event()
        self.attempts: list[Attempt] = []
        self.events: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> Load:
        for index in range(self.sessions):
            thread = threading.Thread(
                target=self._session, args=(index,), name=f"smtp-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def finish(self, timeout: float = SOCKET_TIMEOUT + 10) -> bool:
        """Stop the sessions; False if one is still stuck after `timeout`."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _record(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)

    def _event(self, name: str) -> None:
        with self._lock:
            self.events[name] += 1

    def _session(self, index: int) -> None:
        rng = random.Random(f"{self.seed}-{self.cycle}-{index}")
        sent = 0
        while not self.stop.is_set():
            try:
                client = smtplib.SMTP(HOST, self.port, timeout=SOCKET_TIMEOUT)
                client.ehlo("harness.test")
            except (OSError, smtplib.SMTPException):
                self._event("connect failed")
                self.stop.wait(0.05)
                continue
            try:
                for _ in range(rng.randint(20, 200)):
                    if self.stop.is_set():
                        break
                    sent += 1
                    tag = f"{self.seed}.c{self.cycle}.s{index}.{sent}"
                    if not self._transaction(client, rng, tag):
                        break
            finally:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    client.quit()
                client.close()

    def _transaction(self, client: smtplib.SMTP, rng: random.Random, tag: str) -> bool:
        """One message; False when this connection is finished."""
        rcpt = rng.choice(self.mailboxes)
        payload = build_message(rng, rcpt, tag)
        digest = hashlib.sha256(payload).hexdigest()
        stage = "MAIL"
        try:
            code, reply = client.mail(SENDER)
            if code == 250:
                stage = "RCPT"
                code, reply = client.rcpt(rcpt)
            if code == 250:
                stage = "DATA"
                code, reply = client.data(payload)
                stage = "END"
        except smtplib.SMTPDataError as exc:  # DATA itself refused: no 354
            code, reply = exc.smtp_code, exc.smtp_error
        except (OSError, smtplib.SMTPException):
            if stage == "DATA":
                self._record(Attempt(self.cycle, rcpt, digest, "in_doubt"))
            else:
                self._event(f"cut before DATA ({stage})")
            return False
        if code == 250 and stage == "END":
            words = reply.decode("utf-8", "replace").split()
            self._record(Attempt(self.cycle, rcpt, digest, "acked", message_id=words[-1]))
            return True
        self._record(Attempt(self.cycle, rcpt, digest, "refused", code=code, stage=stage))
        if code == 421:  # the server is closing the channel: so do we
            return False
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.rset()
            return True
        return False


# ---- the audit -----------------------------------------------------------------------------


def chunks(items: Sequence[Attempt], size: int = 500) -> Iterator[Sequence[Attempt]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextlib.contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path, timeout=60)
    try:
        yield db
    finally:
        db.close()


@dataclass
class Structure:
    """What the file itself says: integrity, foreign keys, half-stored rows, counters."""

    integrity: list[str]
    foreign_key_violations: int
    messages_without_raw: list[str]
    raw_without_message: list[str]
    counter_drift: list[int]

    @property
    def integrity_ok(self) -> bool:
        return self.integrity == ["ok"] and self.foreign_key_violations == 0


def check_structure(db: sqlite3.Connection) -> Structure:
    integrity = [str(row[0]) for row in db.execute("PRAGMA integrity_check")]
    fk = len(db.execute("PRAGMA foreign_key_check").fetchall())
    no_raw = db.execute(
        "SELECT m.id FROM messages m LEFT JOIN message_raw r ON r.message_id = m.id "
        "WHERE r.message_id IS NULL"
    ).fetchall()
    no_message = db.execute(
        "SELECT r.message_id FROM message_raw r LEFT JOIN messages m ON m.id = r.message_id "
        "WHERE m.id IS NULL"
    ).fetchall()
    drift = db.execute(
        "SELECT b.id FROM mailboxes b WHERE b.message_count != "
        "(SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id)"
    ).fetchall()
    return Structure(
        integrity,
        fk,
        [str(r[0]) for r in no_raw],
        [str(r[0]) for r in no_message],
        [int(r[0]) for r in drift],
    )


def verify_acked(db: sqlite3.Connection, acked: Sequence[Attempt]) -> dict[str, str]:
    """message id → what is wrong with it, for every acknowledged message not stored intact."""
    problems: dict[str, str] = {}
    unzip = zstandard.ZstdDecompressor()
    for chunk in chunks(acked):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            "SELECT m.id, m.to_address, r.sha256, r.data FROM messages m "
            f"LEFT JOIN message_raw r ON r.message_id = m.id WHERE m.id IN ({marks})",
            [a.message_id for a in chunk],
        ).fetchall()
        found = {str(row[0]): row for row in rows}
        for attempt in chunk:
            row = found.get(attempt.message_id)
            if row is None:
                problems[attempt.message_id] = "missing"
                continue
            _, to_address, stored_sha, data = row
            if data is None:
                problems[attempt.message_id] = "message row without message_raw"
                continue
            try:
                content = unzip.decompress(bytes(data))
            except zstandard.ZstdError:
                problems[attempt.message_id] = "raw data does not decompress"
                continue
            if hashlib.sha256(content).hexdigest() != attempt.sha256:
                problems[attempt.message_id] = "stored bytes differ from those sent"
            elif stored_sha != attempt.sha256:
                problems[attempt.message_id] = "stored sha256 column differs"
            elif str(to_address).lower() != attempt.rcpt.lower():
                problems[attempt.message_id] = f"stored for {to_address}, sent to {attempt.rcpt}"
    return problems


def stored_digests(db: sqlite3.Connection, attempts: Iterable[Attempt]) -> set[str]:
    """Which of these messages' SHA-256 appear in message_raw (matched by content)."""
    wanted = sorted({a.sha256 for a in attempts})
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        marks = ",".join("?" * len(part))
        rows = db.execute(f"SELECT sha256 FROM message_raw WHERE sha256 IN ({marks})", part)
        found.update(str(r[0]) for r in rows)
    return found


# ---- the run -------------------------------------------------------------------------------


@dataclass
class TermResult:
    cycle: int
    exit_code: int | None  # None: still running at the limit (then SIGKILLed)
    seconds: float
    acked: int
    refused_421: int
    leftover_processes: bool


@dataclass
class Totals:
    kill_cycles: int = 0
    term: list[TermResult] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    lost: dict[str, str] = field(default_factory=dict)
    integrity_failures: int = 0
    integrity_detail: list[str] = field(default_factory=list)
    half_stored: set[str] = field(default_factory=set)
    counter_drift: set[int] = field(default_factory=set)
    unexpected: Counter[str] = field(default_factory=Counter)
    restart_failures: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    stuck_sessions: int = 0
    in_doubt: int = 0
    in_doubt_stored: int = 0
    refused_after_data_stored: int = 0
    duplicate_acks: int = 0
    incomplete: str = ""

    @property
    def acked(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome == "acked"]

    @property
    def term_failures(self) -> int:
        return sum(1 for t in self.term if t.exit_code != 0 or t.leftover_processes)

    @property
    def failed(self) -> bool:
        return bool(
            self.lost
            or self.integrity_failures
            or self.half_stored
            or self.counter_drift
            or self.unexpected
            or self.restart_failures
            or self.term_failures
            or self.duplicate_acks
            or self.incomplete
        )


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.totals = Totals()
        self.target = Target(args.workers, args.keep_data)
        self.mailboxes: list[str] = []
        self.exit_limit = args.grace + args.exit_slack

    def log(self, text: str) -> None:
        print(text, flush=True)

    def setup(self) -> None:
        seconds = self.target.start()
        self.mailboxes = self.target.create_mailboxes(self.args.mailboxes)
        self.log(
            f"server up in {seconds:.1f} s (SMTP {HOST}:{self.target.smtp_port}, data in "
            f"{self.target.data_dir}); {len(self.mailboxes)} mailboxes"
        )

    def ensure_running(self) -> bool:
        if self.target.running:
            return True
        try:
            self.totals.restart_seconds.append(self.target.start())
            return True
        except Exception as exc:
            self.totals.restart_failures += 1
            self.log(f"RESTART FAILED: {exc}\n--- server log ---\n{self.target.log_tail()}")
            return False

    def load(self, cycle: int) -> Load:
        return Load(
            self.target.smtp_port, self.mailboxes, cycle, self.args.sessions, self.args.seed
        ).start()

    def absorb(self, load: Load, expected: set[int]) -> list[Attempt]:
        if not load.finish():
            self.totals.stuck_sessions += 1
        self.totals.attempts.extend(load.attempts)
        self.totals.events.update(load.events)
        for a in load.attempts:
            if a.outcome == "refused" and a.code not in expected:
                self.totals.unexpected[f"{a.code} at {a.stage}"] += 1
        return load.attempts

    def audit_cycle(self, attempts: list[Attempt]) -> str:
        """Check the file and this cycle's messages, with the server down; one-line verdict."""
        acked = [a for a in attempts if a.outcome == "acked"]
        doubtful = [a for a in attempts if a.outcome == "in_doubt"]
        after_data = [a for a in attempts if a.outcome == "refused" and a.stage == "END"]
        with database(self.target.db_path) as db:
            structure = check_structure(db)
            problems = verify_acked(db, acked)
            stored = stored_digests(db, doubtful + after_data) if doubtful or after_data else set()
        self.note_structure(structure)
        self.totals.lost.update(problems)
        in_doubt_stored = sum(1 for a in doubtful if a.sha256 in stored)
        self.totals.in_doubt += len(doubtful)
        self.totals.in_doubt_stored += in_doubt_stored
        self.totals.refused_after_data_stored += sum(1 for a in after_data if a.sha256 in stored)
        half = len(structure.messages_without_raw) + len(structure.raw_without_message)
        return (
            f"acked {len(acked)}, in doubt {len(doubtful)} ({in_doubt_stored} stored), "
            f"integrity {'ok' if structure.integrity_ok else 'FAILED'}, "
            f"lost {len(problems)}, half-stored {half}"
        )

    def note_structure(self, structure: Structure) -> None:
        if not structure.integrity_ok:
            self.totals.integrity_failures += 1
            self.totals.integrity_detail.append(
                f"integrity_check: {structure.integrity[:5]}; "
                f"foreign key violations: {structure.foreign_key_violations}"
            )
        self.totals.half_stored.update(structure.messages_without_raw)
        self.totals.half_stored.update(structure.raw_without_message)
        self.totals.counter_drift.update(structure.counter_drift)

    def out_of_time(self, began: float) -> bool:
        if time.monotonic() - began < self.args.time_limit:
            return False
        self.totals.incomplete = f"stopped at the time limit of {self.args.time_limit:.0f} s"
        self.log(self.totals.incomplete)
        return True

    def kill_cycle(self, cycle: int) -> None:
        load = self.load(cycle)
        delay = self.rng.uniform(self.args.min_delay, self.args.max_delay)
        time.sleep(delay)
        self.target.signal_group(signal.SIGKILL)
        code = self.target.wait_exit(10)
        gone = self.target.wait_group_gone(10)
        attempts = self.absorb(load, expected=set())
        if code is None or not gone:
            raise RuntimeError("the server survived SIGKILL")
        verdict = self.audit_cycle(attempts)
        self.totals.kill_cycles += 1
        self.log(f"kill {cycle:>3}/{self.args.kills}: at {delay:.2f} s, {verdict}")

    def term_cycle(self, cycle: int) -> None:
        load = self.load(cycle)
        delay = self.rng.uniform(self.args.min_delay, self.args.max_delay)
        time.sleep(delay)
        assert self.target.server is not None
        began = time.monotonic()
        os.kill(self.target.server.process.pid, signal.SIGTERM)  # the server forwards it
        code = self.target.wait_exit(self.exit_limit)
        seconds = time.monotonic() - began
        leftovers = not self.target.wait_group_gone(5 if code is not None else 0)
        if code is None or leftovers:
            self.target.kill_now()
        attempts = self.absorb(load, expected={421})
        result = TermResult(
            cycle,
            code,
            seconds,
            sum(1 for a in attempts if a.outcome == "acked"),
            sum(1 for a in attempts if a.outcome == "refused" and a.code == 421),
            leftovers,
        )
        self.totals.term.append(result)
        verdict = self.audit_cycle(attempts)
        state = "still running" if code is None else f"exit {code}"
        self.log(
            f"term {cycle:>3}/{self.args.sigterm}: at {delay:.2f} s, {state} after "
            f"{seconds:.2f} s (limit {self.exit_limit:.0f} s), 421 seen {result.refused_421}"
            f"{', processes left behind' if leftovers else ''}, {verdict}"
        )

    def final_audit(self, restart: bool) -> None:
        """Restart once more, stop cleanly, then re-check every acknowledged message."""
        if restart and self.ensure_running():
            self.target.signal_group(signal.SIGTERM)
            if self.target.wait_exit(self.exit_limit) is None:
                self.target.kill_now()
        acked = self.totals.acked
        ids = Counter(a.message_id for a in acked)
        self.totals.duplicate_acks = sum(n - 1 for n in ids.values() if n > 1)
        with database(self.target.db_path) as db:
            self.note_structure(check_structure(db))
            self.totals.lost.update(verify_acked(db, acked))

    def execute(self) -> Totals:
        began = time.monotonic()
        self.setup()
        plan = [(self.kill_cycle, n) for n in range(1, self.args.kills + 1)]
        plan += [(self.term_cycle, n) for n in range(1, self.args.sigterm + 1)]
        for step, cycle in plan:
            if self.out_of_time(began):
                break
            if not self.ensure_running():
                self.totals.incomplete = "stopped: the server did not restart"
                break
            step(cycle)
        self.final_audit(restart=not self.totals.restart_failures)
        return self.totals


# ---- the report ----------------------------------------------------------------------------


def spread(values: Sequence[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f} s" if values else "-"


def term_summary(totals: Totals, limit: float) -> str:
    if not totals.term:
        return "none"
    codes = Counter(
        "still running" if t.exit_code is None else str(t.exit_code) for t in totals.term
    )
    text = ", ".join(f"exit {code} ×{n}" for code, n in sorted(codes.items()))
    seconds = [t.seconds for t in totals.term]
    left = sum(1 for t in totals.term if t.leftover_processes)
    return (
        f"{len(totals.term)} ({text}; stopped in {spread(seconds)}, limit {limit:.0f} s; "
        f"{sum(t.acked for t in totals.term)} acked and {sum(t.refused_421 for t in totals.term)} "
        f"told 421 during them{f'; {left} left processes behind' if left else ''})"
    )


def summary_lines(totals: Totals, run: Run) -> list[tuple[str, str]]:
    attempts = totals.attempts
    refused = Counter(f"{a.code} at {a.stage}" for a in attempts if a.outcome == "refused")
    return [
        ("SIGKILL cycles", str(totals.kill_cycles)),
        ("SIGTERM cycles", term_summary(totals, run.exit_limit)),
        ("messages acked", str(len(totals.acked))),
        ("lost", str(len(totals.lost))),
        ("integrity failures", str(totals.integrity_failures)),
        ("half-stored messages", str(len(totals.half_stored))),
        ("message_count drift (mailboxes)", str(len(totals.counter_drift))),
        ("unexpected replies", str(sum(totals.unexpected.values()))),
        ("restart failures", str(totals.restart_failures)),
        (
            "unacknowledged, stored anyway",
            f"{totals.in_doubt_stored} of {totals.in_doubt} cut after DATA",
        ),
        ("refused after DATA, stored anyway", str(totals.refused_after_data_stored)),
        ("refusals", ", ".join(f"{k} ×{v}" for k, v in sorted(refused.items())) or "none"),
        ("restarts", f"{len(totals.restart_seconds)}, ready in {spread(totals.restart_seconds)}"),
    ]


def print_summary(totals: Totals, run: Run) -> None:
    print("\ncrash summary", flush=True)
    for name, value in summary_lines(totals, run):
        print(f"  {name}: {value}")
    events = ", ".join(f"{k} ×{v}" for k, v in sorted(totals.events.items())) or "none"
    print(f"  client connection events: {events}")
    details = [
        *(f"lost {mid}: {why}" for mid, why in list(totals.lost.items())[:20]),
        *totals.integrity_detail[:5],
        *(f"half-stored: {mid}" for mid in sorted(totals.half_stored)[:20]),
        *(f"unexpected reply: {k} ×{v}" for k, v in totals.unexpected.items()),
        *(["duplicate message ids in 250 replies"] if totals.duplicate_acks else []),
        *(
            [f"{totals.stuck_sessions} cycle(s) had a session stuck"]
            if totals.stuck_sessions
            else []
        ),
        *([totals.incomplete] if totals.incomplete else []),
    ]
    for line in details:
        print(f"  ! {line}")
    print(f"RESULT {'FAILED' if totals.failed else 'ok'}", flush=True)


def doc_body(totals: Totals, run: Run, command: str) -> str:
    args = run.args
    workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    what = (
        f"The harness starts `ephemail serve` (SQLite, `synchronous=FULL`, {workers}) on free "
        f"loopback ports with a fresh data directory, creates {args.mailboxes} mailboxes and "
        f"drives SMTP load from {args.sessions} concurrent sessions that reuse their "
        "connections; every message is unique (random body, some dot-leading lines). At a "
        f"random moment, uniform in {args.min_delay}–{args.max_delay} s into the load, it sends "
        "SIGKILL to the server's whole process group, runs `PRAGMA integrity_check` and "
        "`PRAGMA foreign_key_check`, looks for half-stored messages (a `messages` row without "
        "its `message_raw` row or the reverse, both LEFT JOINs) and for "
        "`mailboxes.message_count` drift, checks every message acknowledged in that cycle, "
        "and restarts the server on the same data directory and ports. A SIGTERM phase then "
        "stops the server under load: it must exit 0 within its grace period "
        f"({args.grace:.0f} s, plus {args.exit_slack:.0f} s for the writer to drain), and "
        "clients must see only `250`, `421` or a closed connection. At the end the server is "
        "restarted once more, stopped cleanly, and every acknowledged message is checked again."
    )
    intact = (
        "A message counts as stored intact when the row with the id from its "
        "`250 … queued as <id>` reply exists for the right recipient and its `message_raw` "
        "decompresses to exactly the bytes the client meant to send (the DATA payload before "
        "dot-stuffing, CRLF line ends, final CRLF: byte equality, no normalisation), with the "
        "same SHA-256 in the `sha256` column. Lost = acknowledged but missing or not intact. "
        "Messages cut after DATA without a final reply may or may not be stored; they are "
        "counted for information only. SIGKILL tests a crashed process, not a crashed "
        "machine: the kernel still holds what was written, so this does not show that "
        "`synchronous=FULL` survives power loss."
    )
    rows = "\n".join(f"| {name} | {value} |" for name, value in summary_lines(totals, run))
    last_run = (
        f"Last full run: {today()}, {machine()}, at commit {source_state()}; `{command}`, "
        f"seed `{args.seed}`."
    )
    return f"""
## Crash safety: `bench/reliability/crash.py`

{fill(what)}

{fill(intact)}

Run it from the repository root, with the virtualenv:

```
.venv/bin/{FULL_COMMAND}
.venv/bin/python bench/reliability/crash.py --quick   # 3 SIGKILL + 2 SIGTERM cycles, under a minute
```

{fill(last_run)}

| | |
|---|---|
{rows}
"""


def fill(text: str) -> str:
    return textwrap.fill(text, width=96, break_long_words=False, break_on_hyphens=False)


# ---- entry point ---------------------------------------------------------------------------


def non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be ≥ 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Every server runs on 127.0.0.1 in a temporary directory removed on exit.",
    )
    parser.add_argument("--kills", type=non_negative, default=50, help="SIGKILL cycles (50)")
    parser.add_argument("--sigterm", type=non_negative, default=5, help="SIGTERM cycles (5)")
    parser.add_argument("--quick", action="store_true", help="3 SIGKILL + 2 SIGTERM cycles")
    parser.add_argument("--sessions", type=non_negative, default=8, help="concurrent SMTP sessions")
    parser.add_argument(
        "--mailboxes", type=non_negative, default=10, help="mailboxes to spread over"
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (1)")
    parser.add_argument("--min-delay", type=float, default=0.2, help="earliest kill, s into load")
    parser.add_argument("--max-delay", type=float, default=2.0, help="latest kill, s into load")
    parser.add_argument(
        "--grace", type=float, default=SERVER_GRACE, help="the server's graceful-stop grace, s"
    )
    parser.add_argument(
        "--exit-slack", type=float, default=5.0, help="allowed beyond the grace on SIGTERM, s"
    )
    parser.add_argument("--time-limit", type=float, default=1800, help="stop cycling after, s")
    parser.add_argument("--seed", default=None, help="random seed (default: a fresh one)")
    parser.add_argument("--keep-data", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--write-doc", action="store_true", help="update the crash section of reliability.md"
    )
    return parser


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.kills, args.sigterm = 3, 2
    if args.seed is None:
        args.seed = f"{random.SystemRandom().getrandbits(32):08x}"
    if args.sessions < 1 or args.mailboxes < 1 or args.workers < 1:
        parser.error("--sessions, --mailboxes and --workers must be at least 1")
    if not 0 <= args.min_delay <= args.max_delay:
        parser.error("need 0 ≤ --min-delay ≤ --max-delay")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    command = "python bench/reliability/crash.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    print(f"crash harness: {args.kills} SIGKILL + {args.sigterm} SIGTERM cycles, seed {args.seed}")
    run = Run(args)
    try:
        totals = run.execute()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"harness error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        print(f"--- server log ---\n{run.target.log_tail()}", file=sys.stderr)
        return 2
    finally:
        run.target.close()
    print_summary(totals, run)
    if args.write_doc:
        if args.quick:
            print("not writing docs/reliability.md from a --quick run (it holds full-run figures)")
        else:
            write_section(RELIABILITY, DOC_SECTION, doc_body(totals, run, command.strip()))
    return 1 if totals.failed else 0


if __name__ == "__main__":
    sys.exit(main())
