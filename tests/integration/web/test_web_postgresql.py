"""The website on PostgreSQL (with Redis quota counters): the same flows as on SQLite."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import Running, make_settings, serving
from tests.support.contract import rate
from tests.support.databases import REDIS_URL, require_service, temporary_pg_database
from tests.support.web import PASSWORD, Browser, new_web_user


@pytest.fixture
async def on_postgresql(tmp_path: Path) -> AsyncIterator[Running]:
    require_service("Redis")
    async with temporary_pg_database() as url:
        settings = make_settings(
            tmp_path,
            database_url=url,
            redis_url=REDIS_URL,
            redis_prefix=f"ephemail-web-{secrets.token_hex(4)}",
        )
        async with serving(settings) as svc:
            yield svc


async def test_sign_up_keys_mailboxes_password_and_usage(on_postgresql: Running) -> None:
    running = on_postgresql
    admin = await new_web_user(running, is_admin=True)
    async with Browser(running.base_url) as browser, Browser(running.base_url) as other:
        signed_up = await browser.post(
            "/signup", {"email": "pg@example.org", "password": PASSWORD, "timezone": "UTC"}
        )
        assert signed_up.status_code == 303
        await other.sign_in("pg@example.org")
        made = await browser.post("/account/api/keys", token_from="/account/api")
        key = re.search(r'id="new-key-value" class="mono">([^<]+)<', made.text)
        assert key
        async with running.client(key.group(1)) as api:
            for _ in range(2):
                answer = await api.get("/api/domains")
        page = (await browser.get("/account/api")).text
        assert f'id="quota-used">{rate(answer.headers)[1]}<' in page
        created = await browser.post("/mailboxes", {"username": "on-pg"})
        assert created.status_code == 303
        assert "on-pg@ephemail.test" in (await browser.get("/mailboxes")).text
        changed = await browser.post(
            "/account/password",
            {"current": PASSWORD, "new": "another long one"},
            token_from="/account",
        )
        assert changed.status_code == 303
        assert (await other.get("/account")).status_code == 303
        assert (await browser.get("/account")).status_code == 200
    async with Browser(running.base_url) as ops:
        await ops.sign_in(admin)
        usage = (await ops.get("/admin/usage")).text
    assert re.search(r'data-label="API requests" class="num">[1-9]', usage)
