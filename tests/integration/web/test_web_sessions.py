"""Sign-in sessions: CSRF, fixation, sign-out, password change, disabling, sign-up off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ephemail.store import accounts
from tests.support import Running, make_settings, serving, start_service
from tests.support import cli as ephemail_cli
from tests.support.web import PASSWORD, Browser, csrf_of, new_web_user

UNSAFE_FORMS = [
    "/signin",
    "/signup",
    "/signout",
    "/account/password",
    "/account/api/keys",
    "/account/api/keys/1/revoke",
    "/mailboxes",
    "/mailboxes/x@ephemail.test/delete",
    "/admin/users/1/disable",
    "/admin/plans",
]


async def test_sign_up_signs_in_on_the_sign_up_plan(running: Running) -> None:
    async with Browser(running.base_url) as browser:
        answer = await browser.post(
            "/signup",
            {"email": "New.Person@Example.org", "password": PASSWORD, "timezone": "Europe/Paris"},
        )
        assert answer.status_code == 303
        assert browser.session is not None
        page = await browser.get("/account")
    assert page.status_code == 200
    assert "new.person@example.org" in page.text
    async with running.engine.connect() as conn:
        user = await accounts.require_user(conn, "new.person@example.org")
    assert (user.plan.name, user.timezone, user.is_admin) == ("default", "Europe/Paris", False)


async def test_each_bad_sign_up_gets_its_own_message(running: Running) -> None:
    taken = await new_web_user(running)
    cases = [
        ({"email": "", "password": PASSWORD}, "Enter your email address."),
        ({"email": "no-at-sign", "password": PASSWORD}, "Enter a valid email address"),
        ({"email": "a@example.org", "password": ""}, "Choose a password."),
        ({"email": "a@example.org", "password": "short"}, "at least 10 characters"),
        ({"email": "a@example.org", "password": PASSWORD, "timezone": "Mars/Base"}, "time zone"),
        ({"email": taken, "password": PASSWORD}, "cannot be used to sign up"),
    ]
    async with Browser(running.base_url) as browser:
        for data, message in cases:
            answer = await browser.post("/signup", data)
            assert answer.status_code in (400, 409), data
            assert message in answer.text, data
            assert browser.session is None


async def test_a_user_made_by_the_cli_signs_in_with_its_password(
    running: Running, tmp_path: Path
) -> None:
    made = ephemail_cli.ok(
        tmp_path,
        "user",
        "create",
        "ops@example.org",
        "--admin",
        "--password-stdin",
        stdin="a long cli password\n",
    )
    assert "created user ops@example.org" in made
    async with Browser(running.base_url) as browser:
        answer = await browser.sign_in("ops@example.org", "a long cli password")
        assert answer.status_code == 303 and answer.headers["location"] == "/mailboxes"
        assert (await browser.get("/admin/users")).status_code == 200
    ephemail_cli.ok(tmp_path, "user", "admin", "ops@example.org", "--remove")
    async with Browser(running.base_url) as browser:
        await browser.sign_in("ops@example.org", "a long cli password")
        assert (await browser.get("/admin/users")).status_code == 403
        # A new password from the CLI ends the session and is the one that works.
        ephemail_cli.ok(tmp_path, "user", "password", "ops@example.org", stdin="another password\n")
        assert (await browser.get("/account")).status_code == 303
        assert (await browser.sign_in("ops@example.org", "a long cli password")).status_code == 400
        assert (await browser.sign_in("ops@example.org", "another password")).status_code == 303
    short = ephemail_cli.run(tmp_path, "user", "password", "ops@example.org", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr


async def test_every_form_refuses_a_post_without_the_visitors_token(running: Running) -> None:
    email = await new_web_user(running)
    async with Browser(running.base_url) as victim, Browser(running.base_url) as attacker:
        await victim.sign_in(email)
        foreign = await attacker.token("/signin")  # a real token, of another visitor
        for path in UNSAFE_FORMS:
            bare = await victim.http.post(path, data={"email": email, "password": PASSWORD})
            assert bare.status_code == 403, path
            assert "The form had expired" in bare.text
            stolen = await victim.http.post(path, data={"csrf_token": foreign})
            assert stolen.status_code == 403, path
            wrong_header = await victim.http.post(path, headers={"X-CSRF-Token": foreign})
            assert wrong_header.status_code == 403, path
        # Still signed in, nothing signed out or created.
        assert (await victim.get("/mailboxes")).status_code == 200
        # The header htmx sends is accepted like the form field.
        token = csrf_of((await victim.get("/account/api")).text)
        made = await victim.http.post("/account/api/keys", headers={"X-CSRF-Token": token})
        assert made.status_code == 200 and "shown only this once" in made.text


async def test_signing_in_never_keeps_a_session_id_from_before(running: Running) -> None:
    email = await new_web_user(running)
    other = await new_web_user(running)
    async with Browser(running.base_url) as attacker, Browser(running.base_url) as victim:
        await attacker.sign_in(other)
        planted = attacker.session
        assert planted is not None
        victim.plant(planted)
        # The planted session is live: /signin redirects, but a form of any page signs in.
        data = {"email": email, "password": PASSWORD}
        assert (await victim.post("/signin", data, token_from="/account")).status_code == 303
        assert victim.session not in (None, planted)
        page = await victim.get("/account")
        assert email in page.text
        # The planted id opens nothing any more, for anyone.
        assert (await attacker.get("/account")).status_code == 303
    async with Browser(running.base_url) as stranger:
        stranger.plant("made-up-value")
        assert (await stranger.get("/account")).status_code == 303
        await stranger.sign_in(email)
        assert stranger.session != "made-up-value"


async def test_signing_out_ends_the_session(running: Running) -> None:
    email = await new_web_user(running)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        old = browser.session
        out = await browser.post("/signout", token_from="/account")
        assert out.status_code == 303
        assert browser.session is None
    async with Browser(running.base_url) as replay:
        replay.plant(old or "")
        answer = await replay.get("/account")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=/account")


async def test_a_password_change_ends_every_other_session(running: Running) -> None:
    email = await new_web_user(running)
    async with Browser(running.base_url) as here, Browser(running.base_url) as elsewhere:
        await here.sign_in(email)
        await elsewhere.sign_in(email)
        before = here.session
        wrong = await here.post(
            "/account/password",
            {"current": "not it at all", "new": "a new password 1"},
            token_from="/account",
        )
        assert wrong.status_code == 400 and "current password is not correct" in wrong.text
        changed = await here.post(
            "/account/password",
            {"current": PASSWORD, "new": "a new password 1"},
            token_from="/account",
        )
        assert changed.status_code == 303
        assert here.session not in (None, before)
        assert (await here.get("/account")).status_code == 200
        assert (await elsewhere.get("/account")).status_code == 303
    async with Browser(running.base_url) as again:
        assert (await again.sign_in(email, PASSWORD)).status_code == 400
        assert (await again.sign_in(email, "a new password 1")).status_code == 303


async def test_disabling_an_account_ends_its_sessions(running: Running) -> None:
    admin = await new_web_user(running, is_admin=True)
    email = await new_web_user(running)
    async with running.engine.connect() as conn:
        target = await accounts.require_user(conn, email)
    async with Browser(running.base_url) as user, Browser(running.base_url) as ops:
        await user.sign_in(email)
        await ops.sign_in(admin)
        done = await ops.post(f"/admin/users/{target.id}/disable", token_from="/admin/users")
        assert done.status_code == 303
        assert (await user.get("/account")).status_code == 303
        refused = await user.sign_in(email)
        assert refused.status_code == 403 and "disabled" in refused.text
        await ops.post(f"/admin/users/{target.id}/enable", token_from="/admin/users")
        assert (await user.sign_in(email)).status_code == 303


@pytest.fixture
async def closed(tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(make_settings(tmp_path, signup_enabled=False)) as svc:
        yield svc


async def test_sign_up_can_be_turned_off(closed: Running) -> None:
    async with Browser(closed.base_url) as browser:
        page = await browser.get("/signup")
        assert page.status_code == 403
        assert "Sign-up is turned off" in page.text
        assert 'href="/signup"' not in (await browser.get("/signin")).text
        answer = await browser.post(
            "/signup", {"email": "x@example.org", "password": PASSWORD}, token_from="/signin"
        )
        assert answer.status_code == 403
        assert browser.session is None
    async with closed.engine.connect() as conn:
        assert await accounts.get_user(conn, "x@example.org") is None
    # The operator still makes accounts, and they sign in.
    email = await new_web_user(closed)
    async with Browser(closed.base_url) as browser:
        assert (await browser.sign_in(email)).status_code == 303


async def test_sign_in_goes_back_only_to_a_page_of_this_site(running: Running) -> None:
    email = await new_web_user(running)
    for asked, landed in (
        ("/account/api", "/account/api"),
        ("//evil.example/steal", "/mailboxes"),
        ("https://evil.example/", "/mailboxes"),
        ("/\\evil.example", "/mailboxes"),
    ):
        async with Browser(running.base_url) as browser:
            data = {"email": email, "password": PASSWORD, "next": asked}
            answer = await browser.post("/signin", data)
            assert answer.headers["location"] == landed, asked


async def test_an_oversized_form_is_refused(running: Running) -> None:
    async with Browser(running.base_url) as browser:
        token = await browser.token("/signin")
        answer = await browser.http.post(
            "/signin", data={"csrf_token": token, "email": "a" * 100_000, "password": "x"}
        )
    assert answer.status_code == 413
    assert "Too large" in answer.text


def _session_cookie(answer: httpx.Response) -> str:
    (cookie,) = [c for c in answer.headers.get_list("set-cookie") if "ephemail_session=" in c]
    return cookie.lower()


async def test_the_session_cookie_is_httponly_lax_and_secure_over_https(
    running: Running, tmp_path: Path
) -> None:
    email = await new_web_user(running)
    async with Browser(running.base_url) as browser:
        plain = _session_cookie(await browser.sign_in(email))
    assert "httponly" in plain and "samesite=lax" in plain and "secure" not in plain
    https = await start_service(
        make_settings(tmp_path / "https", public_url="https://mail.example.org")
    )
    try:
        email = await new_web_user(https)
        async with Browser(https.base_url) as browser:
            # A client on plain http keeps Secure cookies to itself: hand the one back.
            page = await browser.get("/signin")
            pre = page.cookies["ephemail_pre"]
            form = {"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
            answer = await browser.http.post(
                "/signin", data=form, headers={"cookie": f"ephemail_pre={pre}"}
            )
            secure = _session_cookie(answer)
    finally:
        await https.service.stop(grace=1)
    assert "httponly" in secure and "samesite=lax" in secure and "; secure" in secure
