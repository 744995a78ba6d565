"""The operator CLI as a user runs it: the installed `ephemail` script, in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EPHEMAIL = shutil.which("ephemail", path=str(Path(sys.executable).parent)) or "ephemail"


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment with `data_dir` and nothing of the machine's own setup
    (database URL, secret key, config file), plus `extra`."""
    env = {**os.environ, "EPHEMAIL_DATA_DIR": str(data_dir), "EPHEMAIL_LOG_LEVEL": "warning"}
    for name in ("EPHEMAIL_DATABASE_URL", "EPHEMAIL_SECRET_KEY", "EPHEMAIL_CONFIG"):
        env.pop(name, None)
    env.update(extra)
    return env


def run(
    data_dir: Path, *args: str, stdin: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    """One `ephemail` command, with `extra` added to its environment."""
    return subprocess.run(
        [EPHEMAIL, *args],
        env=environment(data_dir, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def in_process(data_dir: Path, *args: str, then: str) -> subprocess.CompletedProcess[str]:
    """`ephemail ARGS` run inside a fresh Python, which then runs `then` (code that prints
    what the command left behind, such as the modules it imported)."""
    code = (
        "import sys; sys.argv = ['ephemail', *sys.argv[1:]]\n"
        "from ephemail.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n" + then
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=environment(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    """A command that must succeed; its standard output."""
    result = run(data_dir, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(data_dir: Path, *args: str) -> str:
    """A failing command: non-zero, one `error:` line on stderr, no traceback."""
    result = run(data_dir, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def serve(
    data_dir: Path, *args: str, smtp_port: int, http_port: int, stderr_apart: bool = False
) -> subprocess.Popen[str]:
    """`ephemail serve` on these loopback ports with its SQLite file in `data_dir`, in its own
    process group so that a test can kill its workers and commit process with it. Standard
    error joins standard output unless `stderr_apart`."""
    env = environment(
        data_dir,
        EPHEMAIL_HTTP_HOST="127.0.0.1",
        EPHEMAIL_SMTP_PORT=str(smtp_port),
        EPHEMAIL_HTTP_PORT=str(http_port),
    )
    return subprocess.Popen(
        [EPHEMAIL, "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr_apart else subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def process_group(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in one process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ProcessLookupError):
            continue
        if command:
            found.append((int(entry.name), command))
    return found
