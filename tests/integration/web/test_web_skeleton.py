"""The website shares the API's port: pages carry a strict CSP, the API is unchanged."""

from __future__ import annotations

import re

from tests.support import Running
from tests.support.contract import rate
from tests.support.web import Browser, new_web_user


async def test_a_page_renders_with_its_security_headers(running: Running) -> None:
    async with Browser(running.base_url) as browser:
        page = await browser.get("/signin")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert "<title>Sign in · ephemail</title>" in page.text
    assert "<script>" not in page.text  # every script is a file of ours
    assert 'href="/static/favicon.svg"' in page.text


async def test_static_assets_are_served_by_the_service(running: Running) -> None:
    async with Browser(running.base_url) as browser:
        for path, kind in (
            ("/static/htmx.min.js", "javascript"),
            ("/static/site.css", "text/css"),
            ("/static/favicon.svg", "image/svg+xml"),
        ):
            asset = await browser.get(path)
            assert asset.status_code == 200, path
            assert kind in asset.headers["content-type"], path


async def test_the_api_is_unchanged_beside_the_site(running: Running) -> None:
    async with running.client(running.admin_key) as api:
        first = await api.get("/api/domains")
        second = await api.get("/api/domains")
        unknown = await api.get("/api/nothing-here")
    assert first.status_code == 200
    assert first.json()["status"] is True
    assert rate(second.headers)[1] == rate(first.headers)[1] + 1
    assert "content-security-policy" not in first.headers  # the site's headers stay on the site
    assert unknown.status_code == 404 and unknown.json()["status"] is False
    async with running.client() as anonymous:
        assert (await anonymous.get("/api/domains")).status_code == 401


async def test_pages_do_not_count_against_the_quota(running: Running) -> None:
    email = await new_web_user(running)
    async with running.client(running.admin_key) as api:
        before = rate((await api.get("/api/domains")).headers)[1]
        async with Browser(running.base_url) as browser:
            await browser.sign_in(email)
            for _ in range(5):
                assert (await browser.get("/mailboxes")).status_code == 200
            assert (await browser.get("/")).status_code == 303
        after = rate((await api.get("/api/domains")).headers)[1]
    assert after == before + 1


async def test_an_unknown_page_is_a_404_page(running: Running) -> None:
    async with Browser(running.base_url) as browser:
        page = await browser.get("/no/such/page")
    assert page.status_code == 404
    assert "Page not found" in page.text
    assert "content-security-policy" in page.headers


PAGES = [
    "/account",
    "/account/api",
    "/account/webhooks",
    "/mailboxes",
    "/admin/users",
    "/admin/plans",
    "/admin/domains",
    "/admin/usage",
    "/no/such/page",
]


async def test_every_page_has_a_title_a_favicon_its_policy_and_labelled_fields(
    running: Running,
) -> None:
    admin = await new_web_user(running, is_admin=True)
    await running.new_mailbox(admin)
    async with Browser(running.base_url) as anonymous, Browser(running.base_url) as signed:
        await signed.sign_in(admin)
        pages = [await anonymous.get(p) for p in ("/", "/signin", "/signup")]
        pages += [await signed.get(p) for p in PAGES]
    for page in pages:
        where = page.url.path
        assert re.search(r"<title>[^<]+ · ephemail</title>", page.text), where
        assert 'rel="icon" href="/static/favicon.svg"' in page.text, where
        assert "script-src 'self'" in page.headers["content-security-policy"], where
        assert not re.search(r"\son[a-z]+=", page.text), where  # no inline handlers
        assert "style=" not in page.text, where  # the CSP would refuse inline styles
        ids = set(re.findall(r'<label[^>]* for="([^"]+)"', page.text))
        for field in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page.text):
            if 'type="hidden"' in field or " hidden" in field:
                continue
            found = re.search(r'id="([^"]+)"', field)
            assert found and found.group(1) in ids, f"{where}: unlabelled {field}"
