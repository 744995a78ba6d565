#!/usr/bin/env python3
"""What a durable message costs as the database grows: rate, CPU and bytes written.

A rate measured on a fresh database says little about a service that has kept a few hundred
thousand messages: every index a message goes into is larger, and a key that lands on a
random page of an index dirties a page of its own in each commit. This bench fills one
mailbox with Postfix `smtp-source` (10 sessions, a connection reused, 1 KiB) and, each time
the database holds the next number of messages asked for, measures a window of messages:
the rate, the commit process's CPU a message, and the bytes it wrote a message
(`/proc/<pid>/io` `wchar`: the SQLite WAL, with its checkpoints into the database file).
Bytes written depend on the code and the data, not on how fast the host is.

With `--against REV` the same is measured, step for step and alternately, on the code of an
earlier commit (its src/, extracted with `git archive`), each with its own database.

    python bench/ingest_growth.py                              # 0, 100k, 200k messages
    python bench/ingest_growth.py --against 5b24f7f --write-doc
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lib.docs import BENCHMARKS, today, write_section
from lib.machine import machine_info
from lib.procs import find_postfix_tool, proc_cpu_seconds
from lib.server import Server, running_server
from lib.source import snapshot_revision, source_state
from smtp_ingest import drive_smtp_source


@dataclass
class Window:
    code: str
    stored_before: int
    messages: int
    seconds: float
    commit_cpu: float
    server_cpu: float
    written: int  # bytes the commit process wrote
    writes: int  # its write system calls
    database_bytes: int  # the database, WAL included, after the window

    @property
    def stored_after(self) -> int:
        return self.stored_before + self.messages  # `measure` checked the database holds it

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def per_message(self, value: float) -> float:
        return value / self.messages


@dataclass
class Candidate:
    """One code under test: a running server and the mailbox it fills."""

    code: str
    server: Server
    mailbox: str
    stored: int = 0


def commit_process_pid(server: Server) -> int:
    for pid in server.pids():
        with contextlib.suppress(OSError):
            if b"commit_process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    raise RuntimeError("no commit process: this bench needs SQLite (the default database)")


def proc_io(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = int(value)
    return fields


def send(smtp_source: str, candidate: Candidate, messages: int, sessions: int) -> None:
    """`messages` 1 KiB messages over `sessions` reused connections; fails unless all are
    acknowledged."""
    if messages <= 0:
        return
    load = argparse.Namespace(sessions=sessions, messages=messages, time_limit=3600)
    port = candidate.server.smtp_port
    done = drive_smtp_source(smtp_source, port, candidate.mailbox, 1024, "reuse", load)
    if done["delivered"] != messages or done["errors"] or done["timed_out"]:
        raise RuntimeError(f"smtp-source: {done['delivered']} of {messages} acknowledged")
    candidate.stored += messages


def measure(smtp_source: str, candidate: Candidate, messages: int, sessions: int) -> Window:
    server = candidate.server
    committer = commit_process_pid(server)
    pids = server.pids()
    io0, commit0, all0 = proc_io(committer), proc_cpu_seconds([committer]), proc_cpu_seconds(pids)
    started = time.perf_counter()
    stored_before = candidate.stored
    send(smtp_source, candidate, messages, sessions)
    seconds = time.perf_counter() - started
    io1, commit1, all1 = proc_io(committer), proc_cpu_seconds([committer]), proc_cpu_seconds(pids)
    files = (server.data_dir / "ephemail.db", server.data_dir / "ephemail.db-wal")
    size = sum(p.stat().st_size for p in files if p.exists())
    stored = server.stored()
    if stored != candidate.stored:
        raise RuntimeError(f"{candidate.code}: {candidate.stored} acknowledged, {stored} stored")
    return Window(
        candidate.code,
        stored_before,
        messages,
        seconds,
        commit1 - commit0,
        all1 - all0,
        io1["wchar"] - io0["wchar"],
        io1["syscw"] - io0["syscw"],
        size,
    )


@contextlib.contextmanager
def candidate(code: str, src: Path | None) -> Iterator[Candidate]:
    env = {"EPHEMAIL_MAILBOX_MESSAGE_CAP": "100000000", "EPHEMAIL_LOG_LEVEL": "warning"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    with running_server(1, env) as server:
        (mailbox,) = server.create_mailboxes(1)
        yield Candidate(code, server, mailbox)


def table(windows: list[Window]) -> str:
    rows = [
        "| code | messages stored before | msg/s | commit process CPU µs/msg | server CPU "
        "µs/msg | KiB written/msg | writes/msg | database KiB/msg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in windows:
        rows.append(
            f"| {w.code} | {w.stored_before:,} | {w.rate:,.0f} "
            f"| {1e6 * w.per_message(w.commit_cpu):.0f} | {1e6 * w.per_message(w.server_cpu):.0f} "
            f"| {w.per_message(w.written) / 1024:.1f} | {w.per_message(w.writes):.1f} "
            f"| {w.database_bytes / 1024 / w.stored_after:.2f} |"
        )
    return "\n".join(rows)


def doc_section(windows: list[Window], command: str, code_note: str) -> str:
    info = machine_info()
    return f"""## Durable ingest as the database grows

{today()}, {info["nproc"]} cores, {info["cpu"]}, Python {info["python"]}; {code_note}.

Command: `{command}`

One mailbox filled by `smtp-source -d -s 10 -l 1024` (10 sessions, one connection each, no
pipelining); at each size the next window of messages is measured. *KiB written/msg* and
*writes/msg* are what the commit process wrote (`/proc/<pid>/io`: the SQLite WAL and the
checkpoints into the database file): they depend on the code and the data, not on the host's
speed, and say how much of each commit is pages rewritten rather than mail stored.

{table(windows)}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[0, 100_000, 200_000],
        help="measure when the database holds this many messages (default 0 100000 200000)",
    )
    parser.add_argument("--window", type=int, default=20_000, help="messages measured per size")
    parser.add_argument("--sessions", type=int, default=10, help="smtp-source sessions")
    parser.add_argument("--against", metavar="REV", help="also measure this commit's code")
    parser.add_argument("--write-doc", action="store_true", help="rewrite its docs section")
    args = parser.parse_args()
    if sorted(args.sizes) != args.sizes or args.sizes[0] < 0 or args.window < 1:
        parser.error("--sizes must ascend from 0 or more, and --window be at least 1")
    smtp_source = find_postfix_tool("smtp-source")
    if smtp_source is None:
        parser.error("smtp-source not found (Debian package postfix; `make bench-tools`)")
    command = "python bench/ingest_growth.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    windows: list[Window] = []
    with contextlib.ExitStack() as stack:
        candidates = []
        code_note = f"code: {source_state()}"
        if args.against:
            into = Path(tempfile.mkdtemp(prefix="ephemail-bench-src-"))
            stack.callback(shutil.rmtree, into, ignore_errors=True)
            src, commit = snapshot_revision(args.against, into)
            candidates.append(stack.enter_context(candidate(f"before ({commit})", src)))
            code_note += f", against {commit} measured alternately"
        candidates.append(stack.enter_context(candidate("now", None)))
        for size in args.sizes:
            for each in candidates:
                send(smtp_source, each, size - each.stored, args.sessions)
                window = measure(smtp_source, each, args.window, args.sessions)
                windows.append(window)
                print(
                    f"{each.code:>18}  {window.stored_before:>9,} stored  {window.rate:8,.0f}"
                    f" msg/s  commit {1e6 * window.per_message(window.commit_cpu):5.0f} µs"
                    f"  {window.per_message(window.written) / 1024:5.1f} KiB written a message",
                    flush=True,
                )
    print()
    print(table(windows))
    if args.write_doc:
        write_section(BENCHMARKS, "ingest-growth", doc_section(windows, command, code_note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
