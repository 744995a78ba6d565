"""Facts about the machine a figure was measured on, and how busy it was, for the docs."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from pathlib import Path


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line for a doc: cores, CPU, Python."""
    return f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}"


def machine_info() -> dict[str, str]:
    """The same and more, field by field: CPUs, model, memory, kernel, Python."""
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "nproc": str(os.cpu_count() or "?"),
        "cpu": cpu_model(),
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
