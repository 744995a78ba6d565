"""Smoke test of `bench/ingest_growth.py`: both codes measured at two sizes, end to end.

The script fails by itself when a message acknowledged with `250` is not in the database;
here its table must hold a row per code and size with the bytes the commit process wrote.
"""

from __future__ import annotations

import re

from tests.support.bench import run_bench
from tests.support.smtp import needs_smtp_source

ROW = re.compile(
    r"^\| (before \(\w+\)|now) \| ([\d,]+) \| ([\d,]+) \|.*\| ([\d.]+) \| [\d.]+ \| [\d.]+ \|$",
    re.M,
)


@needs_smtp_source
def test_growth_measures_both_codes_at_each_size() -> None:
    done = run_bench(
        "ingest_growth.py",
        "--sizes",
        "0",
        "600",
        "--window",
        "300",
        "--against",
        "HEAD",
        timeout=180,
    )
    rows = ROW.findall(done.stdout)
    assert [(code.split()[0], stored) for code, stored, _rate, _kib in rows] == [
        ("before", "0"),
        ("now", "0"),
        ("before", "600"),
        ("now", "600"),
    ], done.output
    assert all(float(kib) > 1 for _code, _stored, _rate, kib in rows), done.output
