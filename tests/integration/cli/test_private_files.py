"""What the service keeps on disk is its user's alone, and its secrets are whole and long.

Run as an operator runs it: the installed `ephemail` script, in a shell or a terminal.
"""

from __future__ import annotations

import os
import pty
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.cli import EPHEMAIL, environment, run
from tests.support.ports import free_port

KEY_FILE = "first-start-key.txt"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(data_dir: Path) -> None:
    """The directory and everything in it: the service's user only."""
    assert mode(data_dir) == 0o700
    files = list(data_dir.iterdir())
    assert files
    for path in files:
        if path.is_dir():  # the local event inbox: 0700, its sockets 0600
            assert mode(path) == 0o700, (path.name, oct(mode(path)))
            assert all(mode(inner) == 0o600 for inner in path.iterdir()), path.name
            continue
        assert mode(path) == 0o600, (path.name, oct(mode(path)))


def assert_refused(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]


# ---- finding 8: the secret ------------------------------------------------------------------


def test_a_short_secret_from_the_environment_is_refused_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [EPHEMAIL, "serve"],
        env=environment(
            tmp_path,
            EPHEMAIL_SECRET_KEY="x" * 31,
            EPHEMAIL_SMTP_PORT=str(free_port()),
            EPHEMAIL_HTTP_PORT=str(free_port()),
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_refused(result, "secret_key")
    assert "x" * 31 not in result.stderr  # the refusal does not print the secret
    assert run(tmp_path, "domain", "list", EPHEMAIL_SECRET_KEY="x" * 32).returncode == 0


def test_a_short_secret_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "ephemail.toml"
    config.write_text('secret_key = "tooshort"\n')
    assert_refused(run(tmp_path, "domain", "list", EPHEMAIL_CONFIG=str(config)), "secret_key")


def test_an_empty_secret_file_is_replaced_by_a_real_secret(tmp_path: Path) -> None:
    """What a crash between creating and writing the file left: it never held a secret."""
    tmp_path.chmod(0o700)
    (tmp_path / "secret_key").touch(0o600)
    result = run(tmp_path, "domain", "list")
    assert result.returncode == 0, result.stderr
    secret = (tmp_path / "secret_key").read_text().strip()
    assert len(secret) >= 32
    assert mode(tmp_path / "secret_key") == 0o600
    assert run(tmp_path, "domain", "list").returncode == 0
    assert (tmp_path / "secret_key").read_text().strip() == secret  # kept from now on


def test_a_short_secret_file_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("abc\n")
    assert_refused(run(tmp_path, "domain", "list"), "secret")
    assert (tmp_path / "secret_key").read_text() == "abc\n"


def test_concurrent_first_starts_all_use_one_secret(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code = (
        "import sys, time\n"
        "from ephemail.config import load_settings\n"
        "while time.time() < float(sys.argv[1]): pass\n"
        "print(load_settings().secret_key)\n"
    )
    start = str(time.time() + 2.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, start],
            env=environment(data_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(12)
    ]
    secrets = set()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        secrets.add(out.strip())
    assert secrets == {(data_dir / "secret_key").read_text().strip()}
    assert len(secrets.pop()) >= 32
    assert [p.name for p in data_dir.iterdir()] == ["secret_key"]  # no temporary file left
    assert_private(data_dir)


# ---- finding 9: private data directory and database -----------------------------------------


def test_admin_commands_create_a_private_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "var"
    result = run(data_dir, "user", "create", "dev@example.org")
    assert result.returncode == 0, result.stderr
    names = {p.name for p in data_dir.iterdir()}
    assert {"ephemail.db", "secret_key"} <= names
    assert_private(data_dir)


# ---- finding 12 (part): the first-start key stays out of service logs ------------------------


def serve(data_dir: Path, **popen: object) -> tuple[subprocess.Popen[bytes], int]:
    http_port = free_port()
    env = environment(
        data_dir, EPHEMAIL_SMTP_PORT=str(free_port()), EPHEMAIL_HTTP_PORT=str(http_port)
    )
    env.pop("EPHEMAIL_LOG_LEVEL")
    proc = subprocess.Popen([EPHEMAIL, "serve"], env=env, **popen)  # type: ignore[call-overload]
    return proc, http_port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def wait_until_http(port: int) -> None:
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the service did not start")


def test_serve_without_a_terminal_writes_the_key_to_a_private_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    proc, http_port = serve(data_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_http(http_port)
        key_file = data_dir / KEY_FILE
        text = key_file.read_text()
        key = text.split("API key:")[1].split()[0]
        assert key.startswith("eph_") and "admin@localhost.localdomain" in text
        answer = httpx.get(
            f"http://127.0.0.1:{http_port}/api/domains",
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        )
        assert answer.status_code == 200
        names = {p.name for p in data_dir.iterdir()}
        assert {"ephemail.db", "ephemail.db-wal", "ephemail.db-shm", "secret_key"} <= names
        assert_private(data_dir)  # those and the key file
    finally:
        stop(proc)
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    assert key not in output and "eph_" not in output
    assert str(key_file.resolve()) in output
    # The first start's log shows the migrations it ran, not the migration tool's internals.
    assert "Running upgrade" in output
    assert "setup plugin" not in output


def read_terminal(master: int, until: str, seconds: float = 30.0) -> str:
    seen = b""
    deadline = time.monotonic() + seconds
    while until.encode() not in seen and time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode(errors="replace")


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs pseudo-terminals")
def test_serve_in_a_terminal_prints_the_key_there(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    master, slave = pty.openpty()
    proc, http_port = serve(data_dir, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        shown = read_terminal(master, "ephemail serving")
        assert "API key: eph_" in shown
        key = shown.split("API key:")[1].split()[0]
        wait_until_http(http_port)
        answer = httpx.get(
            f"http://127.0.0.1:{http_port}/api/domains",
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        )
        assert answer.status_code == 200
        assert not (data_dir / KEY_FILE).exists()
    finally:
        stop(proc)
        os.close(master)
