"""Crash safety, quick: `bench/reliability/crash.py --quick` kills the server under SMTP load
and loses nothing.

The harness runs its own server on free loopback ports with a temporary data directory: 5
SIGKILL cycles and 2 graceful SIGTERM stops under load, checking after each that the SQLite
file is intact and that every message answered `250` is stored byte for byte.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "reliability" / "crash.py"


def field(output: str, name: str) -> str:
    found = re.search(rf"^  {re.escape(name)}: (.*)$", output, re.MULTILINE)
    assert found, f"no '{name}' line in:\n{output[-4000:]}"
    return found.group(1)


@pytest.mark.slow
def test_crash_quick_loses_no_acknowledged_message() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "RESULT ok" in done.stdout, output[-4000:]
    assert field(done.stdout, "SIGKILL cycles") == "5"
    assert field(done.stdout, "SIGTERM cycles").startswith("2 (exit 0 ×2;"), output[-4000:]
    assert int(field(done.stdout, "messages acked")) > 0
    assert field(done.stdout, "lost") == "0"
    assert field(done.stdout, "integrity failures") == "0"
    assert field(done.stdout, "half-stored messages") == "0"
    assert field(done.stdout, "restart failures") == "0"
