"""The operator CLI, run as a user runs it: the installed `ephemail` script in a shell."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from ephemail.cli.groups import GROUPS
from tests.support import ports
from tests.support.cli import EPHEMAIL, in_process, ok, refused, run, serve


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
    assert (
        "pro\tquota 1000\tlifetime 3600s\tmax lifetime 3600s\tmailboxes 5\tdomains free,premium"
        in ok(tmp_path, "plan", "list")
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
    ).splitlines()[0]
    assert address == "hello.world@mail.example.net"
    random_box = ok(tmp_path, "mailbox", "create", "dev@example.org").splitlines()[0]
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
    same_mailbox = ("mailbox", "create", "dup@example.org")
    same_mailbox += ("--domain", "dup.example", "--username", "same")
    ok(tmp_path, *same_mailbox)
    assert "already in use" in refused(tmp_path, *same_mailbox)


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
    import time

    proc = serve(tmp_path, smtp_port=free_port, http_port=ports.free_port())
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
        address = ok(tmp_path, "mailbox", "create", "admin@localhost.localdomain").splitlines()[0]
        assert address.endswith("@ephemail.test")
        with smtplib.SMTP("127.0.0.1", free_port, timeout=5) as smtp:
            assert smtp.sendmail("a@example.org", [address], b"Subject: x\r\n\r\nhi\r\n") == {}
        assert "1 message(s)" in ok(tmp_path, "mailbox", "list", "admin@localhost.localdomain")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0


# --- usage errors, plans, settings and listings as an operator meets them ------------------


def usage_error(data_dir: Path, *args: str) -> str:
    """A command line click refuses: one `error:` line naming the problem, status 2."""
    result = run(data_dir, *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not any(c in result.stderr for c in "╭│╰"), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("key", "revoke", "notanumber"), ("'key_id'", "valid integer")),
        (("plan", "set", "default", "--monthly-quota", "abc"), ("--monthly-quota", "integer")),
        (("domain", "add", "x.test"), ("Missing option '--type'",)),
        (("serve", "--workers", "0"), ("--workers", "greater than or equal to 1")),
        (("plan", "set", "default", "--monthly-quota", "0"), ("--monthly-quota", "to 1")),
        (("plan", "set", "default", "--monthly-quota", "-5"), ("--monthly-quota", "to 1")),
        (("plan", "set", "default", "--max-mailboxes", "0"), ("--max-mailboxes", "to 1")),
        (("plan", "set", "default", "--mailbox-lifetime", "0"), ("--mailbox-lifetime", "to 1")),
        (("no-such-command",), ("No such command",)),
    ],
)
def test_usage_errors_are_one_line(
    tmp_path: Path, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    line = usage_error(tmp_path, *args)
    assert all(f in line for f in fragments), line


def test_plan_set_changes_only_the_options_given(tmp_path: Path) -> None:
    ok(tmp_path, "plan", "set", "default", "--monthly-quota", "77")
    assert (
        "default\tquota 77\tlifetime 600s\tmax lifetime 600s\tmailboxes 100\t"
        "domains free,premium,custom" in ok(tmp_path, "plan", "list")
    )
    ok(tmp_path, "plan", "set", "default", "--domain-types", "free")
    assert (
        "default\tquota 77\tlifetime 600s\tmax lifetime 600s\tmailboxes 100\tdomains free\n"
        in ok(tmp_path, "plan", "list")
    )
    ok(tmp_path, "plan", "set", "default", "--max-lifetime", "3600")
    assert "default\tquota 77\tlifetime 600s\tmax lifetime 3600s\t" in ok(tmp_path, "plan", "list")
    line = refused(tmp_path, "plan", "set", "default", "--max-lifetime", "60")
    assert line == "error: The maximum lifetime must be at least the mailbox lifetime.", line
    line = refused(tmp_path, "plan", "set", "fresh", "--monthly-quota", "5")
    assert "--mailbox-lifetime, --max-mailboxes, --domain-types" in line
    assert "fresh" not in ok(tmp_path, "plan", "list")


def test_a_busy_port_is_named(tmp_path: Path, free_port: int) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(
            tmp_path, "serve", EPHEMAIL_SMTP_PORT=str(free_port), EPHEMAIL_HTTP_PORT=str(port)
        )
    assert result.returncode != 0
    lines = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    assert lines == [f"error: cannot listen for HTTP on 127.0.0.1:{port}: Address already in use"]
    assert "Traceback" not in result.stderr


def test_an_unknown_key_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "ephemail.toml"
    config.write_text('smtp_prot = 25\ndefault_domain = "toml.example"\n')
    line = refused(tmp_path, "--config", str(config), "domain", "list")
    assert "smtp_prot" in line and str(config) in line


def test_an_unusable_data_directory_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = refused(blocker / "data", "user", "list")
    assert "data directory" in line and str(blocker) in line, line
    # A missing one is made.
    assert "admin" not in ok(tmp_path / "new" / "data", "user", "list")
    assert (tmp_path / "new" / "data" / "ephemail.db").exists()


def test_mailbox_create_prints_a_working_email_token(tmp_path: Path) -> None:
    from ephemail.core.tokens import TokenCodec

    ok(tmp_path, "user", "create", "tok@example.org")
    address, token_line = ok(tmp_path, "mailbox", "create", "tok@example.org").splitlines()
    assert token_line.startswith("email_token: ")
    token = token_line.removeprefix("email_token: ")
    secret = (tmp_path / "secret_key").read_text().strip()
    opened = TokenCodec(secret).open(token)
    box_id = ok(tmp_path, "mailbox", "list", "tok@example.org").split("\t")[0]
    # The token seals the mailbox's id and its current life, so it opens that mailbox.
    with contextlib.closing(sqlite3.connect(tmp_path / "ephemail.db")) as db:
        row = db.execute("SELECT address, life_secret FROM mailboxes WHERE id = ?", (box_id,))
        assert opened is not None and (address, opened[1]) == row.fetchone()
    assert opened[0] == int(box_id)


def test_listings_name_owners_and_say_when_empty(tmp_path: Path) -> None:
    ok(tmp_path, "user", "create", "owner@example.org")
    ok(tmp_path, "domain", "add", "own.example", "--type", "custom", "--owner", "owner@example.org")
    assert "own.example\tcustom\towner owner@example.org" in ok(tmp_path, "domain", "list")
    assert ok(tmp_path, "mailbox", "list", "owner@example.org").strip() == (
        "owner@example.org has no live mailboxes"
    )


@pytest.mark.parametrize(
    "command",
    [(), ("user", "create"), ("plan", "set"), ("mailbox", "list"), ("serve",), ("key", "revoke")],
)
def test_help_has_no_placeholders(tmp_path: Path, command: tuple[str, ...]) -> None:
    text = ok(tmp_path, *command, "--help")
    assert "Usage: ephemail" in text
    for placeholder in ("{", "<bool>", "<str>", "<int>", "<path>", "╭"):
        assert placeholder not in text, (placeholder, text)


def test_the_command_list_names_every_group_without_loading_them(tmp_path: Path) -> None:
    # `ephemail --help` is a newcomer's first command: listing the groups must not import
    # them (the database stack alone took about a second), and says what each group's own
    # help says.
    listing = ok(tmp_path, "--help")
    for name, group in GROUPS.items():
        row = next(line for line in listing.splitlines() if line.startswith(f"  {name} "))
        shown = row.split(None, 1)[1].removesuffix("...")
        assert group.help.startswith(shown), (name, row)
        assert shown.rstrip(".") in " ".join(ok(tmp_path, name, "--help").split())
    loaded = in_process(
        tmp_path,
        "--help",
        then="from ephemail.cli.groups import GROUPS\n"
        "modules = {group.module for group in GROUPS.values()}\n"
        "print(sorted(modules & set(sys.modules)), 'sqlalchemy' in sys.modules)",
    )
    assert loaded.stdout.strip().splitlines()[-1] == "[] False", loaded.stdout + loaded.stderr


def test_a_command_on_a_current_database_does_not_load_the_migration_tool(tmp_path: Path) -> None:
    # Every admin command first brings the schema up to date; when it already is, alembic
    # (a fifth of a short command's time) stays unloaded. The first command migrates.
    listing = ok(tmp_path, "plan", "list")
    loaded = in_process(tmp_path, "plan", "list", then="print('alembic' in sys.modules)")
    assert loaded.stdout == listing + "False\n", loaded.stdout + loaded.stderr
