"""The SDK's pytest plugin as a user's suite meets it: a separate pytest run (`pytester`,
in a subprocess, so the plugin loads from its `pytest11` entry point) against a real
service, with mail sent by real SMTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from ephemail.client import Client, NotFound
from tests.support.ports import free_port
from tests.support.threaded import ServiceThread
from tests.support.user_suite import run_user_suite

USER_TESTS = """
import os
import smtplib
from pathlib import Path


def send(to, subject):
    with smtplib.SMTP("127.0.0.1", int(os.environ["SMTP_PORT"])) as smtp:
        smtp.sendmail("app@example.org", [to], f"Subject: {subject}\\r\\n\\r\\nhello\\r\\n")


def test_two_mails_in_order(ephemail_inbox):
    Path("addresses.txt").open("a").write(ephemail_inbox.address + "\\n")
    send(ephemail_inbox.address, "first")
    send(ephemail_inbox.address, "second")
    assert ephemail_inbox.wait_for_message(timeout=10).subject == "first"
    assert ephemail_inbox.wait_for_message(timeout=10).subject == "second"
    assert len(ephemail_inbox.messages()) == 2


def test_a_fresh_inbox_per_test(ephemail_inbox, ephemail_client):
    Path("addresses.txt").open("a").write(ephemail_inbox.address + "\\n")
    assert ephemail_client.messages(ephemail_inbox.address) == []
    send(ephemail_inbox.address, "filtered out")
    send(ephemail_inbox.address, "Your receipt")
    assert ephemail_inbox.wait_for_message(timeout=10, subject="receipt").subject == "Your receipt"
"""


@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch, served: ServiceThread, api_key: str) -> str:
    monkeypatch.setenv("EPHEMAIL_BASE_URL", served.base_url)
    monkeypatch.setenv("EPHEMAIL_API_KEY", api_key)
    monkeypatch.setenv("SMTP_PORT", str(served.smtp_port))
    return api_key


def addresses(pytester: pytest.Pytester) -> list[str]:
    return (pytester.path / "addresses.txt").read_text().split()


def test_each_test_gets_a_fresh_inbox_deleted_after_it(
    pytester: pytest.Pytester, served: ServiceThread, user_env: str
) -> None:
    pytester.makepyfile(test_signups=USER_TESTS)
    result = run_user_suite(pytester)
    result.assert_outcomes(passed=2)
    first, second = addresses(pytester)
    assert first != second
    with Client(served.base_url, user_env) as client:
        for address in (first, second):
            with pytest.raises(NotFound):
                client.messages(address)


def test_settings_from_the_ini_file_and_the_environment_wins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, served: ServiceThread, user_env: str
) -> None:
    pytester.makepyfile(test_signups=USER_TESTS)
    monkeypatch.delenv("EPHEMAIL_BASE_URL")
    monkeypatch.delenv("EPHEMAIL_API_KEY")
    pytester.makeini(
        f"[pytest]\nephemail_base_url = {served.base_url}\nephemail_api_key = {user_env}\n"
    )
    run_user_suite(pytester).assert_outcomes(passed=2)
    pytester.makeini(
        f"[pytest]\nephemail_base_url = http://127.0.0.1:{free_port()}\n"
        f"ephemail_api_key = {user_env}\n"
    )
    monkeypatch.setenv("EPHEMAIL_BASE_URL", served.base_url)
    run_user_suite(pytester).assert_outcomes(passed=2)


def test_the_plugin_does_nothing_unless_its_fixtures_are_used(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EPHEMAIL_BASE_URL", f"http://127.0.0.1:{free_port()}")  # no service
    monkeypatch.delenv("EPHEMAIL_API_KEY", raising=False)
    pytester.makepyfile(test_plain="def test_nothing_to_do_with_mail():\n    assert True\n")
    run_user_suite(pytester).assert_outcomes(passed=1)
    listed = run_user_suite(pytester, "--fixtures")
    listed.stdout.fnmatch_lines(["*ephemail_client*", "*ephemail_inbox*"])
    pytester.makepyfile(test_mail="def test_wants_mail(ephemail_inbox):\n    pass\n")
    failed = run_user_suite(pytester, "test_mail.py")
    failed.assert_outcomes(errors=1)  # a service that is not there is a setup error, said once
    failed.stdout.fnmatch_lines(["*ConnectionFailed*"])


def test_the_docs_page_shows_the_example_the_suite_runs() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs"
    example = (docs / "examples" / "test_signup.py").read_text()
    assert f"```python\n{example}```" in (docs / "pytest-plugin.md").read_text()
