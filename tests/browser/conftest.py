"""Browser fixtures: a running service, Debian's chromium, a page, a signed-in page.

- `running` (tests/conftest.py): the whole service on free ports;
- `chromium_browser`: chromium launched for the test;
- `page`: a fresh browser context and page whose relative URLs go to the service;
- `user_page`: (page, email) of a new account with a password, signed in through the form.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page

from tests.support import Running
from tests.support.browser import chromium, new_page, require_chromium, sign_in
from tests.support.web import new_web_user


@pytest.fixture
async def chromium_browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def page(chromium_browser: Browser, running: Running) -> AsyncIterator[Page]:
    async with new_page(chromium_browser, running.base_url) as fresh:
        yield fresh
        # Nothing the site does may be blocked by its own CSP or fail in a script.
        assert fresh.errors == []  # type: ignore[attr-defined]


@pytest.fixture
async def user_page(page: Page, running: Running) -> tuple[Page, str]:
    email = await new_web_user(running)
    await sign_in(page, email)
    return page, email
