"""The ingest bench's reference servers (`bench/null_smtp.py`) speak SMTP as a client needs:
otherwise their rows in docs/benchmarks.md would measure something else than a message."""

from __future__ import annotations

import smtplib
import subprocess
import sys

import pytest

from tests.support.bench import BENCH
from tests.support.ports import free_port

STUFFED = b"Subject: reference\r\n\r\n.a line that starts with a dot\r\n..two\r\nend\r\n"


@pytest.mark.parametrize("impl", ["ours", "aiosmtpd", "bare"])
def test_a_reference_server_answers_each_message(impl: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(BENCH / "null_smtp.py"), "--impl", impl, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            for n in range(3):  # one connection, several messages: the reused-session mode
                refused = client.sendmail("from@bench.test", [f"to{n}@bench.test"], STUFFED)
                assert refused == {}
            code, reply = client.noop()
            assert code == 250, reply
    finally:
        server.terminate()
        server.wait(10)
