"""`ephemail client …` as a CI script runs it: the installed command, against a real service.

`otp` and `link` read the extraction endpoint: they are in test_client_extensions.py.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from ephemail.client import Client, NotFound
from tests.support.cli import EPHEMAIL, environment, run
from tests.support.events import mail
from tests.support.threaded import ServiceThread


def env(served: ServiceThread, key: str | None) -> dict[str, str]:
    values = {"EPHEMAIL_BASE_URL": served.base_url}
    if key is not None:
        values["EPHEMAIL_API_KEY"] = key
    return values


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_new_prints_a_live_address(tmp_path: Path, served: ServiceThread, api_key: str) -> None:
    result = run(tmp_path, "client", "new", **env(served, api_key))
    assert result.returncode == 0, result.stderr
    address = result.stdout.strip()
    assert address.endswith("@ephemail.test") and "\n" not in address
    with Client(served.base_url, api_key) as client:
        assert client.messages(address) == []
    whole = run(
        tmp_path, "client", "new", "--json", "--username", "cli-json", **env(served, api_key)
    )
    body = json.loads(whole.stdout)
    assert body["email"] == "cli-json@ephemail.test" and body["email_token"]
    gone = run(tmp_path, "client", "delete", "cli-json@ephemail.test", **env(served, api_key))
    assert gone.returncode == 0
    with Client(served.base_url, api_key) as client, pytest.raises(NotFound):
        client.messages("cli-json@ephemail.test")


def test_wait_prints_the_message_that_arrives_as_the_api_json(
    tmp_path: Path, served: ServiceThread, api_key: str, address: str
) -> None:
    box = address
    waiting = subprocess.Popen(
        [EPHEMAIL, "client", "wait", box, "--timeout", "30", "--subject", "code"],
        env=environment(tmp_path, **env(served, api_key)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    served.send(mail(box, "hello"), box)
    served.send(mail(box, "Your code"), box)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    message = json.loads(out)
    assert message["subject"] == "Your code" and message["to"] == box
    assert message["from"] == "Shop" and message["from_email"] == "no-reply@shop.example"
    summary = run(
        tmp_path,
        "client",
        "wait",
        box,
        "--summary",
        "--from",
        "shop.example",
        **env(served, api_key),
    )
    assert summary.returncode == 0, summary.stderr
    assert (
        "Subject: hello" in summary.stdout
        and "From: Shop <no-reply@shop.example>" in summary.stdout
    )


def test_wait_exits_124_when_nothing_came(
    tmp_path: Path, served: ServiceThread, api_key: str, address: str
) -> None:
    box = address
    result = run(tmp_path, "client", "wait", box, "--timeout", "1", **env(served, api_key))
    assert result.returncode == 124 and result.stdout == ""
    assert one_error_line(result) == "error: no message arrived in time"


def test_failures_are_one_line(tmp_path: Path, served: ServiceThread, api_key: str) -> None:
    no_key = run(tmp_path, "client", "new", **env(served, None))
    assert no_key.returncode == 1
    assert one_error_line(no_key) == "error: set EPHEMAIL_API_KEY to an API key of the service"
    wrong_key = run(tmp_path, "client", "new", **env(served, "eph_wrong"))
    assert wrong_key.returncode == 1 and one_error_line(wrong_key) == "error: Unauthenticated."
    missing = run(
        tmp_path, "client", "wait", "nobody@ephemail.test", "--timeout", "1", **env(served, api_key)
    )
    assert missing.returncode == 1 and one_error_line(missing) == "error: Email not found."
    invalid = run(
        tmp_path, "client", "wait", "not an address", "--timeout", "1", **env(served, api_key)
    )
    assert invalid.returncode == 1 and "email" in one_error_line(invalid)
    down = run(
        tmp_path, "client", "new", EPHEMAIL_BASE_URL="http://127.0.0.1:9", EPHEMAIL_API_KEY="x"
    )
    assert down.returncode == 1 and "http://127.0.0.1:9" in one_error_line(down)
