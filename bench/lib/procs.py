"""Processes and ports as /proc shows them: what the scripts measure a server with."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def find_tool(name: str, *extra: str) -> str | None:
    """`name` next to this Python, in one of `extra`'s directories, or on PATH."""
    for candidate in (Path(sys.executable).parent / name, *(Path(p) / name for p in extra)):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def find_postfix_tool(name: str) -> str | None:
    """One of Postfix's programs (smtp-source, smtp-sink), where Debian's package puts them."""
    return find_tool(name, "/usr/sbin", "/usr/lib/postfix/sbin")


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
    """User plus system CPU time of `pids` so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


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
