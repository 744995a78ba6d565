"""The signed-in pages: API management, mailboxes, the operator area, and who may see what."""

from __future__ import annotations

import re

from ephemail.store import accounts, mailboxes
from tests.support import Running
from tests.support.contract import rate
from tests.support.plans import put_plan
from tests.support.web import PASSWORD, Browser, new_web_user

KEY = re.compile(r'<code id="new-key-value" class="mono">(eph_[A-Za-z0-9_-]+)</code>')


def _number(html: str, name: str) -> int:
    found = re.search(rf'id="quota-{name}">([0-9,]+)<', html)
    assert found, name
    return int(found.group(1).replace(",", ""))


async def test_a_key_is_shown_once_and_the_quota_is_what_the_api_says(running: Running) -> None:
    email = await new_web_user(running)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        made = await browser.post("/account/api/keys", token_from="/account/api")
        assert made.status_code == 200
        key = KEY.search(made.text)
        assert key, "the new key is on the page"
        again = await browser.get("/account/api")
        assert key.group(1) not in again.text  # shown once
        assert key.group(1)[:10] + "…" in again.text  # then by its prefix
        assert _number(again.text, "used") == 0
        async with running.client(key.group(1)) as api:
            for _ in range(3):
                last = await api.get("/api/domains")
        limit, used, remaining, reset = rate(last.headers)
        page = (await browser.get("/account/api")).text
    assert (_number(page, "used"), _number(page, "limit")) == (used, limit)
    assert _number(page, "remaining") == remaining
    assert f'datetime="{reset}"' in page
    assert f"{running.base_url}/api" in page
    for language in ("curl", "Python", "JavaScript", "PHP"):
        assert f">{language}</button>" in page
    assert "YOUR_API_KEY" in page and key.group(1) not in page


async def test_a_revoked_key_stops_opening_the_api(running: Running) -> None:
    email, key = await running.new_user(f"keys-{id(running)}@example.org")
    async with running.engine.begin() as conn:
        user = await accounts.require_user(conn, email)
        await accounts.set_password_hash(conn, user.id, accounts.hash_password(PASSWORD))
        (info,) = await accounts.list_keys(conn, email)
    async with Browser(running.base_url) as browser, running.client(key) as api:
        assert (await api.get("/api/domains")).status_code == 200
        await browser.sign_in(email)
        done = await browser.post(f"/account/api/keys/{info.id}/revoke", token_from="/account/api")
        assert done.status_code == 303
        assert (await api.get("/api/domains")).status_code == 401
        page = (await browser.get("/account/api")).text
    assert "revoked" in page


async def test_another_accounts_things_are_404_pages(running: Running) -> None:
    owner, owner_key = await running.new_user()
    box = await running.new_mailbox(owner)
    async with running.engine.connect() as conn:
        (owner_key_info,) = await accounts.list_keys(conn, owner)
    intruder = await new_web_user(running)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(intruder)
        for path, data in (
            (f"/mailboxes/{box}/rename", {"username": "stolen", "domain": "ephemail.test"}),
            (f"/mailboxes/{box}/delete", {}),
            (f"/account/api/keys/{owner_key_info.id}/revoke", {}),
            ("/mailboxes/nobody@ephemail.test/delete", {}),
        ):
            answer = await browser.post(path, data, token_from="/mailboxes")
            assert answer.status_code == 404, path
            assert "Page not found" in answer.text
            assert box not in answer.text
        listing = (await browser.get("/mailboxes")).text
    assert box not in listing
    async with running.client(owner_key) as api:
        assert (await api.get("/api/domains")).status_code == 200  # the key still works
        assert (await api.get("/api/messages", params={"email": box})).status_code == 200


async def test_signed_out_visitors_are_sent_to_sign_in(running: Running) -> None:
    async with Browser(running.base_url) as browser:
        for path in ("/mailboxes", "/account", "/account/api", "/admin", "/admin/usage"):
            answer = await browser.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == f"/signin?next={path}"


async def test_the_operator_area_is_refused_to_other_accounts(running: Running) -> None:
    email = await new_web_user(running)
    async with running.engine.connect() as conn:
        me = await accounts.require_user(conn, email)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        assert 'href="/admin"' not in (await browser.get("/mailboxes")).text
        for path in ("/admin", "/admin/users", "/admin/plans", "/admin/domains", "/admin/usage"):
            page = await browser.get(path)
            assert page.status_code == 403, path
            assert "This page is for the service" in page.text
        for path in (f"/admin/users/{me.id}/plan", "/admin/plans", "/admin/domains"):
            answer = await browser.post(
                path, {"plan": "default", "name": "x"}, token_from="/account"
            )
            assert answer.status_code == 403, path
    async with running.engine.connect() as conn:
        assert not (await accounts.require_user(conn, email)).is_admin


async def test_mailboxes_are_made_renamed_and_deleted_with_the_apis_rules(
    running: Running,
) -> None:
    email = await new_web_user(running)
    async with running.engine.begin() as conn:
        await put_plan(conn, "two", quota=100, lifetime=600, mailboxes=2)
        await accounts.set_user_plan(conn, email, "two")
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        made = await browser.post("/mailboxes", {"username": "alpha", "domain": "ephemail.test"})
        assert made.status_code == 303
        page = (await browser.get("/mailboxes")).text
        assert "Created alpha@ephemail.test." in page
        assert 'href="/mailboxes/alpha%40ephemail.test"' in page
        bad = await browser.post("/mailboxes", {"username": "no spaces here"})
        assert bad.status_code == 422
        taken = await browser.post("/mailboxes", {"username": "alpha"})
        assert taken.status_code == 409
        assert "The address &#39;alpha@ephemail.test&#39; is already in use." in taken.text
        unknown = await browser.post("/mailboxes", {"username": "b", "domain": "elsewhere.org"})
        assert "The domain &#39;elsewhere.org&#39; is not served here." in unknown.text
        assert (await browser.post("/mailboxes", {})).status_code == 303  # random
        full = await browser.post("/mailboxes", {})
        assert full.status_code == 403
        assert mailboxes.MAILBOX_LIMIT.replace("'", "&#39;") in full.text
        renamed = await browser.post(
            "/mailboxes/alpha@ephemail.test/rename",
            {"username": "beta", "domain": "ephemail.test"},
            token_from="/mailboxes",
        )
        assert renamed.status_code == 303
        page = (await browser.get("/mailboxes")).text
        assert "beta@ephemail.test" in page and "alpha@ephemail.test</a>" not in page
        deleted = await browser.post(
            "/mailboxes/beta@ephemail.test/delete", token_from="/mailboxes"
        )
        assert deleted.status_code == 303
        page = (await browser.get("/mailboxes")).text
    assert "Deleted beta@ephemail.test and its mail." in page
    async with running.engine.connect() as conn:
        user = await accounts.require_user(conn, email)
        left = await mailboxes.list_for_user(conn, user.id)
    assert len(left) == 1 and left[0].address != "beta@ephemail.test"


async def test_the_operator_changes_plans_and_domains_and_sees_usage(running: Running) -> None:
    admin = await new_web_user(running, is_admin=True)
    email, key = await running.new_user()
    box = await running.new_mailbox(email)
    await running.send(b"Subject: hi\r\n\r\nhello\r\n", [box])
    async with running.client(key) as api:
        for _ in range(4):
            await api.get("/api/domains")
        await api.get("/api/domains", params={"type": "nonsense"})  # a 422: not quota
    async with running.engine.connect() as conn:
        target = await accounts.require_user(conn, email)
    async with Browser(running.base_url) as ops:
        await ops.sign_in(admin)
        saved = await ops.post(
            "/admin/plans",
            {
                "name": "bigger",
                "monthly_quota": "5000",
                "mailbox_lifetime": "3600",
                "max_mailboxes": "5",
                "types": "free",
            },
        )
        assert saved.status_code == 303
        bad = await ops.post("/admin/plans", {"name": "x", "monthly_quota": "lots"})
        assert bad.status_code == 422 and "must be a whole number" in bad.text
        moved = await ops.post(
            f"/admin/users/{target.id}/plan", {"plan": "bigger"}, token_from="/admin/users"
        )
        assert moved.status_code == 303
        added = await ops.post("/admin/domains", {"name": "Mail.Example.org", "type": "premium"})
        assert added.status_code == 303
        assert "mail.example.org" in (await ops.get("/admin/domains")).text
        usage = (await ops.get("/admin/usage")).text
    async with running.client(key) as api:
        assert rate((await api.get("/api/domains")).headers)[0] == 5000
    cells = re.findall(
        r'data-label="(Messages received|API requests|Quota used)" class="num">([0-9,]+)<', usage
    )
    today = dict(cells[:3])
    assert int(today["Messages received"]) >= 1
    assert int(today["API requests"]) >= 5
    assert int(today["Quota used"]) >= 4
    assert int(today["API requests"]) > int(today["Quota used"])
