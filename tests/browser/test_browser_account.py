"""In a real browser: sign up, sign in, keys and the quota, mailboxes."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from tests.support import Running
from tests.support.browser import open_from_menu
from tests.support.web import PASSWORD


async def test_sign_up_then_sign_out_and_in_again(page: Page) -> None:
    await page.goto("/")
    await page.get_by_role("link", name="Create an account").first.click()
    await page.get_by_label("Email address").fill("browser@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await page.wait_for_url("**/account/api")
    await expect(page.get_by_text("Your account is ready")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.goto("/signin")
    await page.get_by_label("Email address").fill("browser@example.org")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "The email address or password is not correct."
    )
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/mailboxes")
    await expect(page).to_have_title("Mailboxes · ephemail")


async def test_a_new_key_works_once_shown_and_the_quota_bar_moves(
    user_page: tuple[Page, str], running: Running
) -> None:
    page, _ = user_page
    await open_from_menu(page, "API", "API management")
    await expect(page.locator("#quota-used")).to_have_text("0")
    await page.get_by_role("button", name="Create a key").click()
    key = (await page.locator("#new-key-value").inner_text()).strip()
    assert key.startswith("eph_")
    await page.get_by_role("button", name="Copy", exact=True).first.click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    async with httpx.AsyncClient(base_url=running.base_url) as api:
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(3):
            answer = await api.get("/api/domains", headers=headers)
            assert answer.status_code == 200
    used = answer.headers["x-ratelimit-used"]
    await page.reload()
    await expect(page.locator("#new-key-value")).to_have_count(0)  # shown only once
    await expect(page.locator("#quota-used")).to_have_text(used)
    assert await page.locator("#quota-bar").get_attribute("value") == used
    await expect(page.locator("#quota-remaining")).to_have_text(
        f"{int(answer.headers['x-ratelimit-remaining']):,}"
    )
    # The snippets are for this service, with a placeholder for the key.
    await page.get_by_role("tab", name="PHP").click()
    php = page.locator("#code-php")
    await expect(php).to_be_visible()
    await expect(php).to_contain_text(f'$api = "{running.base_url}/api"')
    await expect(php).to_contain_text("YOUR_API_KEY")
    # Revoke it, after saying yes.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name=re.compile("^Revoke key")).click()
    await expect(page.get_by_text("The key has been revoked.")).to_be_visible()
    async with httpx.AsyncClient(base_url=running.base_url) as api:
        gone = await api.get("/api/domains", headers={"Authorization": f"Bearer {key}"})
    assert gone.status_code == 401


async def test_a_mailbox_is_created_renamed_and_deleted(user_page: tuple[Page, str]) -> None:
    page, _ = user_page
    await page.locator("#new-username").fill("browser-box")
    await page.locator("#new-domain").select_option("ephemail.test")
    await page.get_by_role("button", name="Create mailbox").click()
    await expect(page.get_by_text("Created browser-box@ephemail.test.")).to_be_visible()
    row = page.locator("tr", has_text="browser-box@ephemail.test")
    countdown = row.locator(".countdown")
    first = await countdown.inner_text()
    assert re.fullmatch(r"\d+:\d\d", first), first  # ten minutes of the default plan, ticking
    await page.wait_for_timeout(1500)
    assert await countdown.inner_text() != first
    # A bad username gets the API's own message.
    await page.locator("#new-username").fill("bad name")
    await page.get_by_role("button", name="Create mailbox").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    # Rename, with the keyboard.
    await row.get_by_text("Rename").click()
    field = row.get_by_label("New username")
    await field.fill("renamed-box")
    await field.press("Enter")
    await expect(page.get_by_text("Renamed browser-box@ephemail.test to")).to_be_visible()
    await expect(page.get_by_role("link", name="renamed-box@ephemail.test")).to_be_visible()
    # Delete: refused at the confirmation, then accepted.
    delete = page.get_by_role("button", name="Delete renamed-box@ephemail.test")
    page.once("dialog", lambda dialog: dialog.dismiss())
    await delete.click()
    await expect(page.get_by_role("link", name="renamed-box@ephemail.test")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    await delete.click()
    await expect(
        page.get_by_text("Deleted renamed-box@ephemail.test and its mail.")
    ).to_be_visible()
    await expect(page.get_by_role("link", name="renamed-box@ephemail.test")).to_have_count(0)
