"""Smoke test of the SMTP ingest benchmark: `bench/smtp_ingest.py --quick` runs end to end.

It starts its own server on free loopback ports with a temporary data directory, sends a few
hundred messages, and reports per run how many were acknowledged with `250` and how many rows
the database holds; the two must match.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "smtp_ingest.py"
RESULT = re.compile(
    r"^RESULT target=ephemail .*? delivered=(\d+) stored=(\d+) errors=(\d+) check=(\w+)$",
    re.MULTILINE,
)


def test_bench_quick_stores_every_acknowledged_message(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(tmp_path / "results.json")],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    runs = RESULT.findall(done.stdout)
    assert runs, output[-4000:]
    for delivered, stored, _errors, check in runs:
        assert int(delivered) > 0, output[-4000:]
        assert int(delivered) == int(stored), output[-4000:]
        assert check == "ok"
