"""The soak harness, short: SMTP and API together from two driver processes, no errors,
bounded memory and latency, and the rates asked for actually achieved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_short_soak_passes() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "reliability" / "soak.py"),
            "--duration",
            "15",
            "--quick",
            "--smtp-rate",
            "60",
            "--api-rate",
            "120",
            "--users",
            "6",
            "--pollers",
            "4",
            "--procs",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '"pass": true' in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["driver_procs"] == 2
    assert summary["smtp_msg_s"]["achieved"] >= 0.9 * 60
    assert summary["api_req_s"]["achieved"] >= 0.9 * 120
