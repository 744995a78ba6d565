"""Driving the website over HTTP as a browser would: cookies, CSRF tokens, forms."""

from __future__ import annotations

import re
import secrets

import httpx

from ephemail.store import accounts
from tests.support.service import Running

_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    """The CSRF token a page put in its forms."""
    found = _TOKEN.search(html)
    assert found, "the page has no form token"
    return found.group(1)


class Browser:
    """An httpx client with its own cookie jar, which follows no redirect by itself."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=False)

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path)

    async def token(self, path: str = "/signin") -> str:
        page = await self.http.get(path)
        return csrf_of(page.text)

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, token_from: str | None = None
    ) -> httpx.Response:
        """Post a form with the token of the page `token_from` (default: the same path)."""
        token = await self.token(token_from or path)
        return await self.http.post(path, data={**(data or {}), "csrf_token": token})

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return await self.post(
            "/signin", {"email": email, "password": password}, token_from="/signin"
        )

    def plant(self, session_id: str) -> None:
        """Put a session cookie in the jar as if the server had set it."""
        host = self.http.base_url.host
        self.http.cookies.set("ephemail_session", session_id, domain=host, path="/")

    @property
    def session(self) -> str | None:
        return self.http.cookies.get("ephemail_session")


async def new_web_user(
    running: Running,
    email: str | None = None,
    *,
    password: str = PASSWORD,
    is_admin: bool = False,
    plan: str = "default",
) -> str:
    """A user with a password (as `ephemail user create --password-stdin` makes one)."""
    email = email or f"web-{secrets.token_hex(4)}@example.org"
    async with running.engine.begin() as conn:
        await accounts.create_user(
            conn, email, plan_name=plan, password=password, is_admin=is_admin
        )
    return email
