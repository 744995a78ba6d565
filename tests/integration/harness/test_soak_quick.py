"""The soak harness, short: SMTP and API together from two driver processes, no errors,
bounded memory and latency, and the rates asked for actually achieved."""

from __future__ import annotations

import json

from tests.support.bench import run_bench


def test_short_soak_passes() -> None:
    rates = ["--smtp-rate", "60", "--api-rate", "120"]
    drivers = ["--users", "6", "--pollers", "4", "--procs", "2"]
    result = run_bench(
        "reliability/soak.py", "--duration", "15", "--quick", *rates, *drivers, timeout=180
    )
    assert '"pass": true' in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["driver_procs"] == 2
    assert summary["smtp_msg_s"]["achieved"] >= 0.9 * 60
    assert summary["api_req_s"]["achieved"] >= 0.9 * 120
