"""Crash safety, quick: `bench/reliability/crash.py --quick` kills the server under SMTP load
and loses nothing.

The harness runs its own server on free loopback ports with a temporary data directory: 3
SIGKILL cycles and 2 graceful SIGTERM stops under load, checking after each that the SQLite
file is intact and that every message answered `250` is stored byte for byte.
"""

from __future__ import annotations

import re

import pytest

from tests.support.bench import run_bench


def field(output: str, name: str) -> str:
    found = re.search(rf"^  {re.escape(name)}: (.*)$", output, re.MULTILINE)
    assert found, f"no '{name}' line in:\n{output[-4000:]}"
    return found.group(1)


@pytest.mark.slow
def test_crash_quick_loses_no_acknowledged_message() -> None:
    done = run_bench("reliability/crash.py", "--quick", timeout=180)
    assert "RESULT ok" in done.stdout, done.output
    assert field(done.stdout, "SIGKILL cycles") == "3"
    assert field(done.stdout, "SIGTERM cycles").startswith("2 (exit 0 ×2;"), done.output
    assert int(field(done.stdout, "messages acked")) > 0
    assert field(done.stdout, "lost") == "0"
    assert field(done.stdout, "integrity failures") == "0"
    assert field(done.stdout, "half-stored messages") == "0"
    assert field(done.stdout, "restart failures") == "0"
