"""Where a server's CPU goes: py-spy samples of every thread, summed per component."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from lib.procs import find_tool


def start_profiler(directory: str | None, pid: int, label: str) -> subprocess.Popen[bytes] | None:
    """py-spy recording `pid` and its children into DIRECTORY/LABEL.txt (None: not asked)."""
    if not directory:
        return None
    spy = find_tool("py-spy")
    if spy is None:
        print("  (py-spy not found: no profile)", file=sys.stderr)
        return None
    out = Path(directory) / f"{label}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [spy, "record", "--format", "raw", "--rate", str(PROFILE_RATE), "--subprocesses"]
    cmd += ["--threads", "--nonblocking", "-o", str(out), "--pid", str(pid)]
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=quiet, stderr=quiet, stdin=quiet)
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
