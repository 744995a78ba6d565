"""`ephemail serve --workers N`: how the forked workers fail and what they leave behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

EPHEMAIL = shutil.which("ephemail", path=str(Path(sys.executable).parent)) or "ephemail"


def _group(pgid: int) -> list[str]:
    """Command lines of the live processes in one process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ProcessLookupError):
            continue
    return [command for command in found if command]


def test_forked_workers_that_cannot_listen_say_so_in_one_line_each(tmp_path: Path) -> None:
    """Each worker names the busy port on one `error:` line, with no traceback; the service
    exits 1 and takes its commit process with it."""
    with socket.socket() as busy, socket.socket() as spare:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        spare.bind(("127.0.0.1", 0))
        port, smtp_port = busy.getsockname()[1], spare.getsockname()[1]
        spare.close()
        env = {
            **os.environ,
            "EPHEMAIL_DATA_DIR": str(tmp_path),
            "EPHEMAIL_HTTP_HOST": "127.0.0.1",
            "EPHEMAIL_SMTP_PORT": str(smtp_port),
            "EPHEMAIL_HTTP_PORT": str(port),
        }
        env.pop("EPHEMAIL_DATABASE_URL", None)
        proc = subprocess.Popen(
            [EPHEMAIL, "serve", "--workers", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
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
    assert _group(proc.pid) == []
