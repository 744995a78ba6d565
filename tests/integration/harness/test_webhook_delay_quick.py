"""Smoke test of `bench/webhook_delay.py --quick`: a real server, a receiver, 40 messages at a
fixed rate; the script fails unless every message's webhook arrived exactly once."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "webhook_delay.py"


def test_webhook_delay_quick_delivers_every_message_once() -> None:
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
    assert re.search(r"^40 messages at 20/s, 1 worker\(s\): p50 [\d.]+ ms, p99", done.stdout, re.M)
