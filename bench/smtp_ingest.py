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
import dataclasses
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lib.docs import BENCHMARKS, Doc, read_section, write_section
from lib.machine import cpu_busy, loadavg, machine_info, wait_quiet
from lib.options import add_choice_lists, add_options, add_switches, bounded
from lib.procs import find_postfix_tool, proc_cpu_seconds, process_tree, terminate
from lib.profile import start_profiler, stop_profiler, summarise_profile
from lib.server import HOST, ROOT, Server, free_port, running_server, smtp_banner_ok
from lib.smtp_client import MODES, SENDER, client_main
from lib.source import snapshot_head, source_state, src_fingerprint

SECTION = "smtp-ingest"
NOTES_START = "<!-- smtp-ingest:notes:start -->"
NOTES_END = "<!-- smtp-ingest:notes:end -->"
TOOLS = ("own", "smtp-source")


# ---- the servers that store nothing ------------------------------------------------------------


REFERENCES = {"aiosmtpd-null": "aiosmtpd", "front-null": "ours", "bare-null": "bare"}


def start_reference(target: str, smtp_sink: str | None, port: int) -> subprocess.Popen[bytes]:
    """Postfix smtp-sink (takes mail and throws it away: the no-storage ceiling), or
    bench/null_smtp.py (an SMTP front storing nothing: ours, aiosmtpd, or the bare minimum),
    until it greets."""
    if target == "smtp-sink":
        cmd = [str(smtp_sink)]
        if os.geteuid() == 0:  # smtp-sink refuses to run as root without a user to become
            cmd += ["-u", pwd.getpwuid(0).pw_name]
        cmd += ["-m", "1024", f"{HOST}:{port}", "1024"]
    else:
        null_smtp = str(ROOT / "bench" / "null_smtp.py")
        cmd = [sys.executable, null_smtp, "--impl", REFERENCES[target], "--port", str(port)]
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=quiet, stderr=quiet, stdin=quiet, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        if smtp_banner_ok(port):
            return proc
        time.sleep(0.05)
    terminate(proc, grace=5.0)
    raise RuntimeError(f"{target} did not answer (exit {proc.returncode})")


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


def run_ephemail(
    tool: str, size: int, workers: int, mode: str, args: argparse.Namespace
) -> RunResult:
    result = RunResult("ephemail", tool, workers, size, mode, args.messages)
    env = {
        "EPHEMAIL_SQLITE_SYNCHRONOUS": args.synchronous,
        "EPHEMAIL_MAILBOX_MESSAGE_CAP": "1000000",
        "EPHEMAIL_LOG_LEVEL": args.server_log_level or "info",
    }
    if args.snapshot_src is not None:
        env["PYTHONPATH"] = str(args.snapshot_src)
    if args.writer_batch:
        env["EPHEMAIL_WRITER_BATCH"] = str(args.writer_batch)
    if args.database_url:
        env["EPHEMAIL_DATABASE_URL"] = args.database_url
    try:
        with running_server(workers, env, args.start_timeout) as server:
            try:
                measure(server, result, args)
            except Exception:
                print(server.log_tail(), file=sys.stderr)
                raise
    except Exception as exc:
        result.note = f"failed: {exc}"
        print(f"  run failed: {exc}", file=sys.stderr)
    return result


def measure(server: Server, result: RunResult, args: argparse.Namespace) -> None:
    """One load against a started server, then its CPU, memory, stored rows and exit code."""
    label = f"ephemail-{result.tool}-{result.size}-{result.workers}w-{result.mode}"
    boxes = server.create_mailboxes(args.mailboxes)
    stored_before = server.stored()  # a PostgreSQL database may hold earlier runs' mail
    profiler = start_profiler(args.profile, server.process.pid, label)
    try:
        pids = server.pids()
        cpu0 = proc_cpu_seconds(pids)
        load = drive(result.tool, server.smtp_port, boxes, result.size, result.mode, args)
        result.server_cpu = proc_cpu_seconds(pids) - cpu0
    finally:
        stop_profiler(profiler)
    apply(result, load)
    if args.profile and (Path(args.profile) / f"{label}.txt").exists():
        cpu_us = 1e6 * result.server_cpu / result.delivered if result.delivered else None
        print(summarise_profile(Path(args.profile) / f"{label}.txt", cpu_us))
    result.rss_kib, result.rss_per_process = server.rss()
    result.stored = server.stored() - stored_before
    code = server.stop()
    if code not in (0, None):
        result.note = f"server exit {code}"
    for line in server.log_tail(40).splitlines():
        # each worker logs its batches on stop, the commit process its commits
        if "writer:" in line or "commit process:" in line:
            print(f"  {line.strip()}")


def run_sink(
    tool: str, size: int, mode: str, args: argparse.Namespace, target: str = "smtp-sink"
) -> RunResult:
    result = RunResult(target, tool, 1, size, mode, args.messages)
    boxes = [f"box{i}@sink.test" for i in range(args.mailboxes)]
    port = free_port()
    try:
        proc = start_reference(target, args.smtp_sink, port)
        try:
            pids = process_tree(proc.pid)
            cpu0 = proc_cpu_seconds(pids)
            apply(result, drive(tool, port, boxes, size, mode, args))
            result.server_cpu = proc_cpu_seconds(pids) - cpu0
        finally:
            terminate(proc, grace=5.0)
    except Exception as exc:
        result.note = f"failed: {exc}"
        print(f"  {target} run failed: {exc}", file=sys.stderr)
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
        for other, name in (("aiosmtpd-null", "aiosmtpd"), ("bare-null", "a bare receiver")):
            ref = next(
                (a for a in results if a.target == other and (a.tool, a.size, a.mode) == key),
                None,
            )
            if ref is not None and ref.rate:
                lines.append(
                    f"front storing nothing / {name} storing nothing, {tool_name(r.tool)} "
                    f"{human_size(r.size)} {r.mode}: {r.rate:,.0f} / {ref.rate:,.0f} msg/s = "
                    f"{r.rate / ref.rate:.2f}x"
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
        "`bench/lib/smtp_client.py`, our asyncio client (uvloop); *smtp-source* is Postfix's C "
        "load generator (`smtp-source -d -s 10 -m 20000 -l SIZE`), which sends every message to "
        "one mailbox and does not pipeline. *reuse*: each session sends all its messages over one "
        "connection, in lockstep (MAIL, wait, RCPT, wait, DATA, wait, body, wait); "
        "*pipelined*: the same, but MAIL, RCPT and DATA go out in one write when the server "
        "advertises PIPELINING (RFC 2920), as Postfix sends; *chunked*: MAIL, RCPT and the "
        "whole message as one `BDAT n LAST` chunk in one write when the server also advertises "
        "CHUNKING (RFC 3030), one round trip a message (a server without CHUNKING gets the "
        "pipelined mode); *new*: a new connection per "
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
            "aiosmtpd, the library ephemail used before, ephemail's own SMTP front, and a bare "
            "receiver (fixed replies, the end of DATA found, no checks or limits: the ceiling "
            "of any SMTP front in Python on this host).",
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
    ]
    return "\n".join(lines) + "\n"


def existing_notes(text: str) -> str:
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start == -1 or end == -1 or end < start:
        return ""
    return text[start + len(NOTES_START) : end].strip()


def write_doc(results: Sequence[RunResult], args: argparse.Namespace, command: str) -> None:
    """Rewrite the smtp-ingest section, keeping the hand-written profile notes in it."""
    doc = Doc(Path(args.doc), BENCHMARKS.intro)
    notes = existing_notes(read_section(doc, SECTION))
    write_section(doc, SECTION, doc_section(results, args, command, notes))


# ---- command line ----------------------------------------------------------------------------


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)(i?[bB])?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (use e.g. 1024, 1k, 50k)")
    value = int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    if not 64 <= value <= 10 * 1024 * 1024:
        raise argparse.ArgumentTypeError("size must be between 64 bytes and 10 MiB")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="SMTP ingest benchmark for ephemail (loopback only). With no options it "
        "runs the full matrix: 1 KiB and 50 KiB, 1 and 2 workers, reused and new connections, "
        "plus the same load against Postfix smtp-sink.",
    )
    add_options(
        parser,
        [
            ("--messages -n", bounded(1, 1_000_000), 20_000, "messages per run (default 20000)"),
            ("--sessions -s", bounded(1, 500), 10, "concurrent SMTP sessions (default 10)"),
            (
                "--mailboxes -k",
                bounded(1, 1000),
                20,
                "recipient mailboxes, used round-robin (default 20)",
            ),
            (
                "--writer-batch",
                bounded(1, 100_000),
                None,
                "EPHEMAIL_WRITER_BATCH for the server (PostgreSQL only: on SQLite the commit "
                "process takes everything waiting)",
            ),
            ("--time-limit", float, 600.0, "seconds at most per load run (default 600)"),
            ("--op-timeout", float, 30.0, "seconds to wait for one SMTP reply (default 30)"),
            (
                "--start-timeout",
                float,
                60.0,
                "seconds to wait for the server to answer (default 60)",
            ),
            (
                "--quiet-max-wait",
                float,
                300.0,
                "seconds at most to wait for --wait-quiet per run (default 300)",
            ),
        ],
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
    add_choice_lists(
        parser,
        [
            (
                "--mode",
                MODES,
                "reuse: many messages per connection, lockstep; pipelined: the same with "
                "PIPELINING; chunked: the envelope and the message as one BDAT chunk in one "
                "write (CHUNKING); new: a connection per message (default all four)",
            ),
            (
                "--tool",
                TOOLS,
                "load generators: our asyncio client and/or Postfix smtp-source (which sends "
                "to the first mailbox only and has no pipelined or chunked mode); default both",
            ),
        ],
    )
    add_switches(
        parser,
        [
            ("--no-sink", "skip the smtp-sink comparison"),
            (
                "--no-reference",
                "skip the three reference rows storing nothing: aiosmtpd, our SMTP front and "
                "a bare receiver (bench/null_smtp.py)",
            ),
            (
                "--snapshot",
                "run the server from src/ of the committed HEAD (git archive into a temp dir), "
                "not from the working tree that others may be editing",
            ),
            ("--quick", "smoke test: 500 messages, 1 KiB, 1 worker, both modes, 5 mailboxes"),
            ("--write-doc", "update the smtp-ingest section of docs/benchmarks.md"),
        ],
    )
    parser.add_argument(
        "--synchronous",
        default="FULL",
        choices=("FULL", "NORMAL", "EXTRA"),
        help="EPHEMAIL_SQLITE_SYNCHRONOUS for the server (default FULL)",
    )
    parser.add_argument(
        "--server-log-level",
        default=None,
        help="EPHEMAIL_LOG_LEVEL for the server (default: server's, info)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="PCT",
        default=None,
        help="before each run, wait until other work keeps under PCT%% of the CPUs busy",
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
        "--database-url",
        default="",
        help="serve from this PostgreSQL database (postgresql+asyncpg://…) instead of SQLite",
    )
    parser.add_argument("--doc", default=str(BENCHMARKS.path), help=argparse.SUPPRESS)
    return parser


def plan(args: argparse.Namespace) -> Iterator[tuple[str, str, int, int, str]]:
    """(target, tool, size, workers, mode) in the order they run."""
    for tool in args.tool:
        for size in args.size:
            for mode in args.mode:
                if tool == "smtp-source" and mode in ("pipelined", "chunked"):
                    continue
                if not args.no_sink:
                    yield "smtp-sink", tool, size, 1, mode
                if not args.no_reference:
                    yield "aiosmtpd-null", tool, size, 1, mode
                    yield "front-null", tool, size, 1, mode
                    yield "bare-null", tool, size, 1, mode
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
    # How busy the machine was before each run: sampled over 2 s, or 0.2 s in a smoke test
    # (six samples of 2 s were a third of its time).
    args.busy_sample = 0.2 if args.quick else 2.0
    args.smtp_sink = find_postfix_tool("smtp-sink")
    args.smtp_source = find_postfix_tool("smtp-source")
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
                else cpu_busy(args.busy_sample)
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
