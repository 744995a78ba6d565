"""Reading mail in a real browser: live arrival, a message, a download, the token inbox in a
fresh context, and hostile mail that runs nothing and fetches nothing until asked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support import Running
from tests.support.browser import new_page
from tests.support.reader import (
    SCRIPT_TITLE,
    Recorder,
    hostile_message,
    text_message,
    web_mailbox,
)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    found.start()
    try:
        yield found
    finally:
        found.stop()


def _with_attachment(to: str, subject: str) -> bytes:
    return text_message(to, subject, "Your code is 424242", ("receipt.txt", b"receipt 424242\n"))


async def _live(page: Page) -> None:
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


async def test_mail_arrives_live_opens_downloads_and_reaches_the_token_inbox(
    running: Running, chromium_browser: Browser, user_page: tuple[Page, str]
) -> None:
    page, _ = user_page

    await page.get_by_label("Username").fill("signup-test")
    await page.get_by_role("button", name="Create mailbox").click()
    await expect(page.get_by_text("Created signup-test@")).to_be_visible()
    link = page.get_by_role("link", name="signup-test@", exact=False).first
    address = (await link.text_content() or "").strip()
    await link.click()
    await expect(page.locator("h1")).to_have_text(address)
    await _live(page)
    await page.evaluate("window.notReloaded = true")

    await running.send(_with_attachment(address, "Confirm your sign-up"), [address])
    item = page.locator(".mail-item", has_text="Confirm your sign-up")
    await expect(item).to_be_visible()
    await expect(item).to_have_class("mail-item unread")
    assert await page.evaluate("window.notReloaded === true"), "the page was not reloaded"

    await item.get_by_role("link").click()
    await expect(page.get_by_role("heading", name="Confirm your sign-up")).to_be_visible()
    await expect(page.locator(".mail-text")).to_contain_text("Your code is 424242")
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="receipt.txt").click()
    download = await downloading.value
    assert download.suggested_filename == "receipt.txt"
    saved = await download.path()
    assert saved is not None and saved.read_bytes() == b"receipt 424242\n"

    await page.get_by_role("link", name=address).click()
    await expect(page.locator(".mail-item", has_text="Confirm your sign-up")).not_to_have_class(
        "mail-item unread"
    )
    share = await page.get_by_role("link", name="Share link").get_attribute("href")
    assert share and share.startswith("/inbox/")

    # a fresh context: no session, no cookies
    async with new_page(chromium_browser, running.base_url) as shared:
        await shared.goto(share)
        await expect(shared.locator("h1")).to_have_text(address)
        await expect(shared.get_by_text("Shared inbox · read-only")).to_be_visible()
        await _live(shared)
        await running.send(_with_attachment(address, "Second message, live"), [address])
        arrived = shared.locator(".mail-item", has_text="Second message, live")
        await expect(arrived).to_be_visible()
        await expect(page.locator(".mail-item", has_text="Second message, live")).to_be_visible()
        await arrived.get_by_role("link").click()
        await expect(shared.locator(".mail-text")).to_contain_text("Your code is 424242")
        assert shared.errors == []  # type: ignore[attr-defined]


async def test_hostile_mail_runs_nothing_and_fetches_nothing_until_asked(
    running: Running, user_page: tuple[Page, str], recorder: Recorder
) -> None:
    page, email = user_page
    address = await web_mailbox(running, email)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    parts: list[int] = []
    page.on(
        "response", lambda answer: parts.append(answer.status) if "/parts/" in answer.url else None
    )
    await page.goto(f"/mailboxes/{address}")
    await _live(page)

    await running.send(hostile_message(address, recorder.url), [address])
    await page.locator(".mail-item", has_text="Your order has shipped").get_by_role("link").click()
    frame = page.frame_locator("#mail-frame")
    await expect(frame.get_by_text("Tracking number")).to_be_visible()
    await expect(frame.get_by_role("link", name="Track your parcel")).to_be_visible()
    await expect(frame.get_by_alt_text("Shop logo")).to_be_visible()
    await page.wait_for_load_state("networkidle")

    assert parts == [200], "the inline cid: image came from the message's own part"
    assert recorder.hits == [], "nothing remote was fetched"
    assert await page.title() == "Your order has shipped · ephemail"
    child = page.frame(name="mail-frame")
    assert child is not None
    assert SCRIPT_TITLE not in "".join(console)
    assert "<script" not in await child.content()

    await page.get_by_role("link", name="Show remote images").click()
    await expect(page.get_by_text("Remote images are shown for this message.")).to_be_visible()
    for _ in range(50):
        if recorder.hits:
            break
        await asyncio.sleep(0.1)
    assert recorder.hits == ["/pixel.png"], "only the remote image, and only once asked"
    await expect(frame.get_by_alt_text("tracking pixel")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    assert "/script-ran" not in recorder.hits
    assert SCRIPT_TITLE not in "".join(console)
