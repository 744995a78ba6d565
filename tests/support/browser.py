"""Playwright driving Debian's chromium (never a browser download of Playwright's own).

Shared by the browser tests' fixtures (tests/browser/conftest.py) and the screenshot script
(tests/browser/screenshots.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support.ci import unavailable
from tests.support.web import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


def require_chromium() -> None:
    """Skip without Debian's chromium; under CI=true its absence fails the run instead."""
    if CHROMIUM.exists():
        return
    unavailable(f"{CHROMIUM} is missing: `make test-tools` installs Debian's chromium package")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def new_page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    """A fresh context (own cookies) and page; `page.errors` collects script errors and
    what the Content-Security-Policy refused."""
    context = await browser.new_context(base_url=base_url, viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A refused form answers 4xx, which chromium logs as an error too: only what the
    # policy refused or a script threw counts.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    page.errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        await context.close()


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Through the sign-in form, as a person would."""
    await page.goto("/signin")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/mailboxes")


async def open_from_menu(page: Page, link: str, title: str) -> None:
    """Follow a link of the site's navigation, as a person would, and wait for its page."""
    await page.get_by_role("link", name=link, exact=True).click()
    await expect(page).to_have_title(f"{title} · ephemail")
