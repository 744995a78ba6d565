"""The operator CLI, run as a user runs it: the installed `ephemail` script in a shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EPHEMAIL = shutil.which("ephemail", path=str(Path(sys.executable).parent)) or "ephemail"


def run(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EPHEMAIL_DATA_DIR": str(data_dir), "EPHEMAIL_LOG_LEVEL": "warning"}
    env.pop("EPHEMAIL_DATABASE_URL", None)
    return subprocess.run(
        [EPHEMAIL, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def ok(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = run(data_dir, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(data_dir: Path, *args: str) -> str:
    """A failing command: non-zero, one line on stderr, no traceback."""
    result = run(data_dir, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_user_key_domain_plan_mailbox_workflow(tmp_path: Path) -> None:
    ok(
        tmp_path,
        "plan",
        "set",
        "pro",
        "--monthly-quota",
        "1000",
        "--mailbox-lifetime",
        "3600",
        "--max-mailboxes",
        "5",
        "--domain-types",
        "free,premium",
    )
    assert "pro\tquota 1000\tlifetime 3600s\tmailboxes 5\tdomains free,premium" in ok(
        tmp_path, "plan", "list"
    )

    ok(
        tmp_path,
        "user",
        "create",
        "dev@example.org",
        "--plan",
        "pro",
        "--timezone",
        "Europe/Athens",
        "--password-stdin",
        stdin="correct horse\n",
    )
    assert "dev@example.org\tpro\tEurope/Athens" in ok(tmp_path, "user", "list")

    out = ok(tmp_path, "key", "create", "dev@example.org")
    key = out.strip().splitlines()[-1]
    assert key.startswith("eph_") and len(key) > 40 and " " not in key
    listing = ok(tmp_path, "key", "list", "dev@example.org")
    assert key[:10] in listing and key not in listing and "active" in listing
    key_id = listing.split("\t")[0]
    ok(tmp_path, "key", "revoke", key_id)
    assert "revoked" in ok(tmp_path, "key", "list", "dev@example.org")

    ok(tmp_path, "domain", "add", "Mail.Example.NET", "--type", "premium")
    assert "mail.example.net\tpremium" in ok(tmp_path, "domain", "list")

    address = ok(
        tmp_path,
        "mailbox",
        "create",
        "dev@example.org",
        "--domain",
        "mail.example.net",
        "--username",
        "Hello.World",
    ).strip()
    assert address == "hello.world@mail.example.net"
    random_box = ok(tmp_path, "mailbox", "create", "dev@example.org").strip()
    assert random_box.count("@") == 1 and random_box.split("@")[0].isalnum()
    boxes = ok(tmp_path, "mailbox", "list", "dev@example.org")
    assert address in boxes and random_box in boxes

    ok(tmp_path, "domain", "remove", "mail.example.net")
    assert "mail.example.net" not in ok(tmp_path, "domain", "list")
    assert address not in ok(tmp_path, "mailbox", "list", "dev@example.org")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("user", "create", "x@example.org", "--plan", "nope"), "No plan named 'nope'"),
        (("user", "create", "bad-email"), "not a valid email"),
        (("user", "create", "x@example.org", "--timezone", "Mars/Base"), "Unknown time zone"),
        (("key", "create", "ghost@example.org"), "No user 'ghost@example.org'"),
        (("key", "revoke", "9999"), "No API key with id 9999"),
        (("domain", "add", "bad_domain!", "--type", "free"), "not a valid domain"),
        (("domain", "add", "x.example", "--type", "gold"), "Domain type must be"),
        (("domain", "add", "x.example", "--type", "custom"), "needs an owner"),
        (("domain", "remove", "never.example"), "No domain"),
        (("mailbox", "create", "ghost@example.org"), "No user"),
        (
            (
                "plan",
                "set",
                "p",
                "--monthly-quota",
                "1",
                "--mailbox-lifetime",
                "60",
                "--max-mailboxes",
                "1",
                "--domain-types",
                "gold",
            ),
            "Domain types must be",
        ),
    ],
)
def test_bad_input_gives_one_line_and_non_zero_exit(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    assert fragment in refused(tmp_path, *args)


def test_duplicates_are_refused(tmp_path: Path) -> None:
    ok(tmp_path, "user", "create", "dup@example.org")
    assert "already exists" in refused(tmp_path, "user", "create", "DUP@example.org")
    ok(tmp_path, "domain", "add", "dup.example", "--type", "free")
    assert "already exists" in refused(tmp_path, "domain", "add", "dup.example", "--type", "free")
    ok(
        tmp_path,
        "mailbox",
        "create",
        "dup@example.org",
        "--domain",
        "dup.example",
        "--username",
        "same",
    )
    assert "already in use" in refused(
        tmp_path,
        "mailbox",
        "create",
        "dup@example.org",
        "--domain",
        "dup.example",
        "--username",
        "same",
    )


def test_settings_come_from_a_toml_file_and_env_wins(tmp_path: Path) -> None:
    config = tmp_path / "ephemail.toml"
    other = tmp_path / "elsewhere"
    config.write_text(f'data_dir = "{other}"\ndefault_domain = "toml.example"\n')
    env = {**os.environ, "EPHEMAIL_CONFIG": str(config)}
    env.pop("EPHEMAIL_DATA_DIR", None)
    result = subprocess.run(
        [EPHEMAIL, "domain", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "toml.example\tfree" in result.stdout
    assert (other / "ephemail.db").exists()
    assert (other / "secret_key").stat().st_mode & 0o777 == 0o600
    env["EPHEMAIL_DEFAULT_DOMAIN"] = "env.example"
    result = subprocess.run(
        [EPHEMAIL, "domain", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "env.example\tfree" in result.stdout


def test_serve_first_start_prints_one_key_and_accepts_mail(tmp_path: Path, free_port: int) -> None:
    import smtplib
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        http_port = sock.getsockname()[1]
    env = {
        **os.environ,
        "EPHEMAIL_DATA_DIR": str(tmp_path),
        "EPHEMAIL_SMTP_PORT": str(free_port),
        "EPHEMAIL_HTTP_PORT": str(http_port),
    }
    proc = subprocess.Popen(
        [EPHEMAIL, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("ephemail serving"):
                break
        # Not a terminal: the key is in a private file, and only where it is is printed.
        assert len([x for x in lines if "first-start-key.txt" in x]) == 1
        assert "API key:" in (tmp_path / "first-start-key.txt").read_text()
        for _ in range(100):
            try:
                with smtplib.SMTP("127.0.0.1", free_port, timeout=5) as smtp:
                    assert smtp.noop()[0] == 250
                break
            except OSError:
                time.sleep(0.1)
        address = ok(tmp_path, "mailbox", "create", "admin@localhost.localdomain").strip()
        assert address.endswith("@ephemail.test")
        with smtplib.SMTP("127.0.0.1", free_port, timeout=5) as smtp:
            assert smtp.sendmail("a@example.org", [address], b"Subject: x\r\n\r\nhi\r\n") == {}
        assert "1 message(s)" in ok(tmp_path, "mailbox", "list", "admin@localhost.localdomain")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0
