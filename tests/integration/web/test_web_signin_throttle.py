"""Sign-in throttling per address and per client, and nothing that tells who has an account."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ephemail.store import accounts
from tests.support import Running, make_settings, serving
from tests.support.web import PASSWORD, Browser, new_web_user


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[Running]:
    settings = make_settings(tmp_path, signin_attempts_per_address=3, signin_attempts_per_client=6)
    async with serving(settings) as svc:
        yield svc


async def test_an_address_is_refused_after_its_failures_even_with_the_right_password(
    strict: Running,
) -> None:
    email = await new_web_user(strict)
    async with Browser(strict.base_url) as browser:
        for _ in range(3):
            wrong = await browser.sign_in(email, "not the password")
            assert wrong.status_code == 400
        refused = await browser.sign_in(email, PASSWORD)
        assert refused.status_code == 429
        assert "Too many failed sign-ins. Wait 15 minutes" in refused.text
        assert browser.session is None
        # Other addresses from the same client still may (below the client's own limit).
        other = await new_web_user(strict)
        assert (await browser.sign_in(other)).status_code == 303


async def test_a_client_is_refused_after_failures_on_many_addresses(strict: Running) -> None:
    email = await new_web_user(strict)
    async with Browser(strict.base_url) as browser:
        for n in range(6):
            await browser.sign_in(f"guess-{n}@example.org", "whatever it is")
        refused = await browser.sign_in(email, PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.text


async def test_each_bad_input_gets_one_clear_message(running: Running) -> None:
    email = await new_web_user(running)
    async with Browser(running.base_url) as browser:
        no_email = await browser.sign_in("", PASSWORD)
        no_password = await browser.sign_in(email, "")
        wrong = await browser.sign_in(email, "not the password")
    assert "Enter your email address." in no_email.text
    assert "Enter your password." in no_password.text
    assert "The email address or password is not correct." in wrong.text
    for page in (no_email, no_password, wrong):
        assert page.status_code == 400
        assert page.text.count('class="flash flash-error"') == 1


def _message(html: str) -> str:
    found = re.search(r'class="flash flash-error"[^>]*>([^<]*)<', html)
    assert found
    return found.group(1)


async def test_an_unknown_address_answers_like_a_wrong_password(running: Running) -> None:
    email = await new_web_user(running)
    no_password = "no-password@example.org"
    async with running.engine.begin() as conn:
        await accounts.create_user(conn, no_password, plan_name="default")
    times: dict[str, list[float]] = {"known": [], "unknown": [], "no_password": []}
    answers = {}
    async with Browser(running.base_url) as browser:
        for _ in range(3):
            for kind, address in (
                ("known", email),
                ("unknown", "nobody-here@example.org"),
                ("no_password", no_password),
            ):
                start = time.perf_counter()
                answer = await browser.sign_in(address, "not the password")
                times[kind].append(time.perf_counter() - start)
                answers[kind] = (answer.status_code, _message(answer.text))
    assert answers["known"] == answers["unknown"] == answers["no_password"]
    # An unknown address pays for an argon2 verification too: it is not several times faster.
    known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
    assert unknown > known / 3
