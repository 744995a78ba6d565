"""The webhooks page: register (the secret shown once), list, test, deliveries, delete; the
API's refusals in the API's words; CSRF; another account's hook is a 404 page."""

from __future__ import annotations

import asyncio
import html
import re
import time

from ephemail.store import accounts
from ephemail.store import webhooks as store
from tests.support import Running
from tests.support.receivers import Receiver
from tests.support.web import Browser, new_web_user
from tests.support.webhooks import hooked, receiver

SECRET = re.compile(r'<code id="new-hook-secret" class="mono">(whsec_[0-9a-f]+)</code>')
PAGE = "/account/webhooks"
__all__ = ["hooked", "receiver"]  # the fixtures


async def _hooks_of(running: Running, email: str) -> list[store.Webhook]:
    async with running.engine.connect() as conn:
        user = await accounts.require_user(conn, email)
        return await store.list_for_user(conn, user.id)


async def _page_until(browser: Browser, text: str, within: float = 10.0) -> str:
    """The page once it shows `text` (a delivery is logged just after its attempt)."""
    deadline = time.monotonic() + within
    while True:
        page = (await browser.get(PAGE)).text
        if text in page or time.monotonic() > deadline:
            return page
        await asyncio.sleep(0.1)


async def test_register_list_test_and_delete(hooked: Running, receiver: Receiver) -> None:
    email = await new_web_user(hooked)
    box = await hooked.new_mailbox(email)
    async with Browser(hooked.base_url) as browser:
        await browser.sign_in(email)
        empty = await browser.get(PAGE)
        assert empty.status_code == 200 and "No webhook yet" in empty.text
        assert f'<option value="{box}"' in empty.text  # the live mailboxes are the scopes
        assert 'href="/account/webhooks" aria-current="page"' in empty.text  # the nav link
        form = {"url": receiver.url, "email": box, "events": "message.received"}
        made = await browser.post(PAGE, form)
        assert made.status_code == 200
        secret = SECRET.search(made.text)
        assert secret, "the secret is on the page"
        (hook,) = await _hooks_of(hooked, email)
        assert hook.secret == secret.group(1) and hook.email == box
        assert hook.events == ("message.received",) and hook.url == receiver.url
        listed = await browser.get(PAGE)
        assert secret.group(1) not in listed.text  # shown once
        assert receiver.url in listed.text and box in listed.text
        assert "No delivery yet" in listed.text

        tested = await browser.post(f"{PAGE}/{hook.id}/test", token_from=PAGE)
        assert tested.status_code == 303
        (got,) = await receiver.wait_for(1)
        assert got.event["type"] == "webhook.test"
        page = await _page_until(browser, "webhook.test</code>")
        assert "webhook.test</code>" in page and ">204</span>" in page

        deleted = await browser.post(f"{PAGE}/{hook.id}/delete", token_from=PAGE)
        assert deleted.status_code == 303 and deleted.headers["location"] == PAGE
        assert await _hooks_of(hooked, email) == []
        after = await browser.get(PAGE)
        assert "No webhook yet" in after.text and "has been deleted" in after.text
        # The dead hook is a 404 page for every action.
        for action in ("test", "delete"):
            gone = await browser.post(f"{PAGE}/{hook.id}/{action}", token_from=PAGE)
            assert gone.status_code == 404 and "Page not found" in gone.text


async def test_no_event_checked_means_every_event(hooked: Running, receiver: Receiver) -> None:
    email = await new_web_user(hooked)
    async with Browser(hooked.base_url) as browser:
        await browser.sign_in(email)
        made = await browser.post(PAGE, {"url": receiver.url})
        assert made.status_code == 200 and SECRET.search(made.text)
    (hook,) = await _hooks_of(hooked, email)
    assert hook.email is None and len(hook.events) == 6


async def test_a_private_receiver_is_refused_in_the_apis_words(running: Running) -> None:
    email = await new_web_user(running)
    async with Browser(running.base_url) as browser:
        await browser.sign_in(email)
        refused = await browser.post(PAGE, {"url": "http://127.0.0.1:9/hook"})
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "the host '127.0.0.1' resolves to a loopback address (127.0.0.1)" in text
    assert 'value="http://127.0.0.1:9/hook"' in refused.text  # the form keeps what was typed
    assert SECRET.search(refused.text) is None
    assert await _hooks_of(running, email) == []
    # The API gives the same words for the same URL.
    _, key = await running.new_user()
    async with running.client(key) as api:
        answer = await api.post("/api/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert answer.status_code == 422
    (message,) = answer.json()["errors"]["url"]
    assert message in text


async def test_another_users_mailbox_is_the_apis_refusal(hooked: Running) -> None:
    owner, _ = await hooked.new_user()
    box = await hooked.new_mailbox(owner)
    email = await new_web_user(hooked)
    async with Browser(hooked.base_url) as browser:
        await browser.sign_in(email)
        refused = await browser.post(PAGE, {"url": "http://127.0.0.1:9/", "email": box})
    assert refused.status_code == 404 and "Email not found." in refused.text
    assert await _hooks_of(hooked, email) == []


async def test_without_the_form_token_nothing_changes(hooked: Running, receiver: Receiver) -> None:
    email = await new_web_user(hooked)
    async with Browser(hooked.base_url) as browser:
        await browser.sign_in(email)
        forged = await browser.http.post(PAGE, data={"url": receiver.url})
        assert forged.status_code == 403 and "The form had expired" in forged.text
        await browser.post(PAGE, {"url": receiver.url})
        (hook,) = await _hooks_of(hooked, email)
        for action in ("test", "delete"):
            forged = await browser.http.post(f"{PAGE}/{hook.id}/{action}", data={})
            assert forged.status_code == 403
    assert await _hooks_of(hooked, email) == [hook]
    assert receiver.got == []


async def test_another_accounts_webhook_is_a_404_page(hooked: Running, receiver: Receiver) -> None:
    owner = await new_web_user(hooked)
    async with hooked.engine.begin() as conn:
        user = await accounts.require_user(conn, owner)
        hook = await store.create(conn, user.id, receiver.url, None, ["message.received"])
    intruder = await new_web_user(hooked)
    async with Browser(hooked.base_url) as browser:
        await browser.sign_in(intruder)
        page = await browser.get(PAGE)
        assert receiver.url not in page.text
        for path in (f"{PAGE}/{hook.id}/test", f"{PAGE}/{hook.id}/delete", f"{PAGE}/x1/delete"):
            answer = await browser.post(path, token_from=PAGE)
            assert answer.status_code == 404, path
            assert "Page not found" in answer.text and receiver.url not in answer.text
    assert await _hooks_of(hooked, owner) == [hook]
    assert receiver.got == []


async def test_signed_out_visitors_are_sent_to_sign_in(hooked: Running) -> None:
    async with Browser(hooked.base_url) as browser:
        answer = await browser.get(PAGE)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
