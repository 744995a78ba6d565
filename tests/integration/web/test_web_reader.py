"""The reading pages over HTTP: ownership, the sanitised frame and its policy, attachments,
the raw source, marking seen, and the live stream of the site."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from ephemail.store import accounts
from tests.support import Running, make_settings, start_service
from tests.support.events import events, next_event
from tests.support.reader import (
    PNG,
    SCRIPT_TITLE,
    expire,
    hostile_message,
    message_ids,
    text_message,
    web_mailbox,
)
from tests.support.web import PASSWORD, Browser, new_web_user

REMOTE = "http://remote.example:8080"


async def _owner_with_mail(running: Running) -> tuple[str, str, str]:
    """(owner's email, mailbox, id of the hostile message in it)."""
    email = await new_web_user(running)
    box = await web_mailbox(running, email)
    await running.send(hostile_message(box, REMOTE), [box])
    (mid,) = await message_ids(running, box)
    return email, box, mid


async def test_the_inbox_lists_mail_newest_first_with_unread_marked(running: Running) -> None:
    email = await new_web_user(running)
    box = await web_mailbox(running, email)
    for subject in ("First code", "Second code"):
        await running.send(text_message(box, subject), [box])
    newest, oldest = await message_ids(running, box)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        page = await browser.get(f"/mailboxes/{box}")
        assert page.status_code == 200
        assert page.text.index("Second code") < page.text.index("First code")
        assert page.text.count('class="mail-item unread"') == 2
        assert f"{box}</h1>" in page.text
        read = await browser.get(f"/mailboxes/{box}/messages/{oldest}")
        assert read.status_code == 200
        assert "First code" in read.text and "Your code is 123456" in read.text
        listed = (await browser.get(f"/mailboxes/{box}/list")).text
    assert listed.count('class="mail-item unread"') == 1  # reading marked it seen
    assert f'data-id="{newest}"' in listed.split('class="mail-item unread"')[1].split("</li>")[0]


async def test_another_accounts_mailbox_and_its_mail_are_404_pages(running: Running) -> None:
    _, box, mid = await _owner_with_mail(running)
    intruder = await new_web_user(running)
    mine = await web_mailbox(running, intruder)
    base = f"/mailboxes/{box}/messages/{mid}"
    async with Browser(running.base_url) as browser:
        await browser.sign_in(intruder)
        for path in (
            f"/mailboxes/{box}",
            f"/mailboxes/{box}/list",
            f"/mailboxes/{box}/events",
            base,
            base + "/body",
            base + "/source",
            base + "/attachments/invoice.txt",
            # the intruder's own mailbox cannot reach the message either
            f"/mailboxes/{mine}/messages/{mid}",
            f"/mailboxes/{mine}/messages/{mid}/attachments/invoice.txt",
            "/mailboxes/nobody@ephemail.test",
        ):
            answer = await browser.get(path)
            assert answer.status_code == 404, path
            assert "Page not found" in answer.text, path
            assert "Your order" not in answer.text and "Invoice" not in answer.text


async def test_an_expired_mailbox_is_a_404_page_for_its_owner(running: Running) -> None:
    email, box, mid = await _owner_with_mail(running)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        assert (await browser.get(f"/mailboxes/{box}")).status_code == 200
        await expire(running, box)
        for path in (f"/mailboxes/{box}", f"/mailboxes/{box}/messages/{mid}"):
            assert (await browser.get(path)).status_code == 404


async def test_the_frame_holds_clean_html_under_its_own_policy(running: Running) -> None:
    email, box, mid = await _owner_with_mail(running)
    page_path = f"/mailboxes/{box}/messages/{mid}"
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        page = await browser.get(page_path)
        frame = await browser.get(page_path + "/body")
        remote = await browser.get(page_path + "/body?remote=1")
        part_url = re.search(r'src="(/parts/[^"]+)"', frame.text)
        assert part_url, "the cid: image points at the message's own part"
        part = await browser.get(part_url.group(1))
        # the part URL works without a session: the sandboxed frame sends no cookie
        async with httpx.AsyncClient(base_url=running.base_url) as anonymous:
            assert (await anonymous.get(part_url.group(1))).content == PNG
            forged = part_url.group(1)[:-4] + "0000"
            assert (await anonymous.get(forged)).status_code == 404

    # the page: the frame is sandboxed without scripts or same-origin; the page's own CSP
    assert re.search(
        r'<iframe[^>]*sandbox="allow-popups allow-popups-to-escape-sandbox"', page.text
    )
    assert "allow-scripts" not in page.text and "allow-same-origin" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "Show remote images" in page.text

    for served in (frame, remote):
        html = served.text.lower()
        assert "<script" not in html and SCRIPT_TITLE not in html
        assert not re.search(r"\son[a-z]+\s*=", html), "no event handler attribute survives"
        assert "cid:" not in html
        assert "tracking number" in html and 'target="_blank"' in html
        csp = served.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert "sandbox" in csp and "frame-ancestors 'self'" in csp
        assert f"/parts/{mid}/" in csp
        assert served.headers["referrer-policy"] == "no-referrer"
        assert served.headers["x-frame-options"] == "SAMEORIGIN"
    assert REMOTE not in frame.text
    images = frame.headers["content-security-policy"].split("img-src ")[1].split(";")[0].split()
    assert images and all(source.endswith(f"/parts/{mid}/") for source in images)
    assert f"{REMOTE}/pixel.png" in remote.text
    assert "https: http:" in remote.headers["content-security-policy"]

    assert part.status_code == 200 and part.content == PNG
    assert part.headers["content-type"] == "image/png"
    assert part.headers["x-content-type-options"] == "nosniff"


async def test_inline_part_urls_die_with_the_mailbox(running: Running) -> None:
    email, box, mid = await _owner_with_mail(running)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        frame = await browser.get(f"/mailboxes/{box}/messages/{mid}/body")
        part_url = re.search(r'src="(/parts/[^"]+)"', frame.text)
        assert part_url
        assert (await browser.get(part_url.group(1))).status_code == 200
        await expire(running, box)
        assert (await browser.get(part_url.group(1))).status_code == 404


async def test_attachments_download_and_the_source_is_the_mail_as_received(
    running: Running,
) -> None:
    email, box, mid = await _owner_with_mail(running)
    base = f"/mailboxes/{box}/messages/{mid}"
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        page = await browser.get(base)
        assert f'href="{base}/attachments/invoice.txt"' in page.text.replace("%40", "@")
        file = await browser.get(base + "/attachments/invoice.txt")
        source = await browser.get(base + "/source")
        download = await browser.get(base + "/source?download=1")
    assert file.status_code == 200 and file.content == b"Invoice 42\n"
    assert file.headers["content-disposition"] == 'attachment; filename="invoice.txt"'
    assert file.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in file.headers["content-security-policy"]
    assert source.headers["content-type"] == "text/plain; charset=utf-8"
    assert "Subject: Your order has shipped" in source.text
    assert "sandbox" in source.headers["content-security-policy"]
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-type"] == "message/rfc822"
    assert b"Content-ID: <logo@shop.example>" in download.content


async def test_the_site_stream_tells_new_mail_without_touching_the_api_quota(
    running: Running,
) -> None:
    email = await new_web_user(running)
    box = await web_mailbox(running, email)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        async with browser.http.stream("GET", f"/mailboxes/{box}/events?since=0") as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            stream = events(answer)
            await running.send(text_message(box, "Live one"), [box])
            event = await next_event(stream)
        quota_page = await browser.get("/account/api")
    assert event["event"] == "message.received"
    assert event["data"]["subject"] == "Live one"
    assert re.search(r'id="quota-used">0<', quota_page.text)


async def test_page_streams_have_a_limit_of_their_own(tmp_path: Path) -> None:
    """Open tabs never take the event streams the account's API clients may open."""
    running = await start_service(make_settings(tmp_path, events_max_streams=1))
    try:
        email, key = await running.new_user()
        async with running.engine.begin() as conn:
            user = await accounts.require_user(conn, email)
            await accounts.set_password_hash(conn, user.id, accounts.hash_password(PASSWORD))
        box = await web_mailbox(running, email)
        async with Browser(running.base_url) as browser, running.client(key) as api:
            await browser.sign_in(email)
            async with browser.http.stream("GET", f"/mailboxes/{box}/events") as page_stream:
                assert page_stream.status_code == 200
                second = await browser.get(f"/mailboxes/{box}/events")
                assert second.status_code == 429
                assert "Too many open pages" in second.text
                async with api.stream("GET", "/api/events", params={"email": box}) as api_stream:
                    assert api_stream.status_code == 200
    finally:
        await running.service.stop(grace=1)
