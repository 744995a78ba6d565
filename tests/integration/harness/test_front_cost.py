"""`bench/smtp_front_cost.py` measures what it says: every message it feeds is accepted by
both receivers, or its per-message figure would be the cost of a refusal."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support.bench import BENCH, run_bench

ROW = re.compile(r"^\s+(ours|bare)\s+(reuse|new)\s+([\d.]+)$", re.M)


def test_the_front_cost_bench_reports_each_receiver_and_mode() -> None:
    done = run_bench("smtp_front_cost.py", "--messages", "50", timeout=120)
    rows = {(impl, mode): float(value) for impl, mode, value in ROW.findall(done.stdout)}
    assert set(rows) == {("ours", "reuse"), ("bare", "reuse"), ("ours", "new"), ("bare", "new")}
    assert all(value > 0 for value in rows.values()), done.output
    assert "ours / bare, new:" in done.stdout


def test_the_front_cost_bench_refuses_to_measure_a_receiver_that_refuses_mail() -> None:
    # A 100-octet limit refuses the bench's 1 KiB messages with 552: the run must stop
    # rather than report the cost of refusing.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[:1]\n"
        "import smtp_front_cost as bench\n"
        "from ephemail.mail.smtp.gate import SmtpLimits\n"
        "original = SmtpLimits.__init__\n"
        "def small(self, *a, **k):\n"
        "    original(self, *a, **k); self.max_message_size = 100\n"
        "SmtpLimits.__init__ = small\n"
        "bench.run_once('ours', 'reuse', 5, 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(BENCH)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "not every message was accepted" in done.stderr
