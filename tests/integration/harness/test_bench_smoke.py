"""Smoke test of the SMTP ingest benchmark: `bench/smtp_ingest.py --quick` runs end to end.

It starts its own server on free loopback ports with a temporary data directory, sends a few
hundred messages, and reports per run how many were acknowledged with `250` and how many rows
the database holds; the two must match.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.bench import run_bench

RESULT = re.compile(
    r"^RESULT target=ephemail .*? delivered=(\d+) stored=(\d+) errors=(\d+) check=(\w+)$",
    re.MULTILINE,
)


def test_bench_quick_stores_every_acknowledged_message(tmp_path: Path) -> None:
    done = run_bench(
        "smtp_ingest.py", "--quick", "--json", str(tmp_path / "results.json"), timeout=120
    )
    runs = RESULT.findall(done.stdout)
    assert runs, done.output
    for delivered, stored, _errors, check in runs:
        assert int(delivered) > 0, done.output
        assert int(delivered) == int(stored), done.output
        assert check == "ok"
