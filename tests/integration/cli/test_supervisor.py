"""`ephemail serve --workers N`: how the forked workers fail and what they leave behind."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from tests.support.cli import process_group, serve
from tests.support.ports import free_port


def test_forked_workers_that_cannot_listen_say_so_in_one_line_each(tmp_path: Path) -> None:
    """Each worker names the busy port on one `error:` line, with no traceback; the service
    exits 1 and takes its commit process with it."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port, smtp_port = busy.getsockname()[1], free_port()
        proc = serve(
            tmp_path, "--workers", "2", smtp_port=smtp_port, http_port=port, stderr_apart=True
        )
        try:
            _, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate(timeout=30)
    assert proc.returncode == 1
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert (
        errors == [f"error: cannot listen for HTTP on 127.0.0.1:{port}: Address already in use"] * 2
    )
    assert "Traceback" not in stderr
    assert process_group(proc.pid) == []
