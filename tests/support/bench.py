"""The bench harnesses run as a user runs them: a script under `bench/`, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


@dataclass(frozen=True)
class Finished:
    stdout: str
    output: str  # the tail of stdout and stderr together, for assertion messages


def run_bench(script: str, *args: str, timeout: float) -> Finished:
    """`bench/<script> args` with this interpreter; it must exit 0."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, output
    return Finished(done.stdout, output)
