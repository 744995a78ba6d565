"""In a real browser: the Webhooks page registers a receiver (the secret shown once and
copied), sends it a signed test event whose delivery then shows, refuses a bad URL in the
API's words, and deletes after asking; nothing is blocked by the page's CSP."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from ephemail.webhooks.signing import verify
from tests.support import Running, serving
from tests.support.browser import open_from_menu
from tests.support.receivers import Receiver
from tests.support.webhooks import hook_settings, receiver

__all__ = ["receiver"]  # the fixture


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The service with receivers on loopback allowed (the test's receiver runs there)."""
    async with serving(hook_settings(tmp_path)) as svc:
        yield svc


async def test_register_test_and_delete_a_webhook(
    user_page: tuple[Page, str], receiver: Receiver
) -> None:
    page, _ = user_page
    await open_from_menu(page, "Webhooks", "Webhooks")
    await expect(page.get_by_text("No webhook yet")).to_be_visible()
    # A URL the guard refuses: the API's sentence, and the form keeps what was typed.
    await page.get_by_label("Receiver URL").fill("ftp://example.org/hook")
    await page.get_by_role("button", name="Create webhook").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "only http and https URLs can receive webhooks"
    )
    await expect(page.get_by_label("Receiver URL")).to_have_value("ftp://example.org/hook")

    await page.get_by_label("Receiver URL").fill(receiver.url)
    for kind in ("message.deleted", "mailbox.created", "mailbox.renamed"):
        await page.get_by_label(kind).uncheck()
    await page.get_by_role("button", name="Create webhook").click()
    secret = (await page.locator("#new-hook-secret").inner_text()).strip()
    assert secret.startswith("whsec_")
    await page.get_by_role("button", name="Copy", exact=True).click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    hook = page.locator("article.hook")
    await expect(hook).to_contain_text("message.received, mailbox.deleted, mailbox.expired")

    await page.get_by_role("button", name=f"Send a test event to {receiver.url}").click()
    await expect(page.get_by_text("A test event was queued")).to_be_visible()
    await expect(page.locator("#new-hook-secret")).to_have_count(0)  # shown only once
    (got,) = await receiver.wait_for(1)
    assert verify(secret, got.headers["ephemail-signature"], got.body, int(time.time()))
    for _ in range(50):  # the log is written just after the attempt
        if await page.locator(".deliveries tbody tr").count():
            break
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(page.locator(".deliveries tbody tr")).to_contain_text(re.compile("204"))

    delete = page.get_by_role("button", name=f"Delete the webhook to {receiver.url}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    await delete.click()
    await expect(hook).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    await delete.click()
    await expect(page.get_by_text("The webhook has been deleted.")).to_be_visible()
    await expect(page.locator("article.hook")).to_have_count(0)
