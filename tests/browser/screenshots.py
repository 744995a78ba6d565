"""Screenshots of the main pages for docs/screenshots/, from a real service with sample data.

Not a test (pytest does not collect it). Run: `.venv/bin/python tests/browser/screenshots.py`
(it needs Debian's chromium, like the browser tests). It starts the service on free ports
in a temporary directory, fills it through the API and SMTP, and photographs each page at
1280x800 in chromium.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ephemail.store import accounts  # noqa: E402
from tests.support import make_settings, serving  # noqa: E402
from tests.support.browser import VIEWPORT, chromium, new_page, sign_in  # noqa: E402
from tests.support.plans import put_plan  # noqa: E402
from tests.support.web import new_web_user  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}


async def main() -> None:
    """`--phone DIR`: the same pages at a phone's width, into DIR (to check the layout)."""
    global OUT
    if len(sys.argv) == 3 and sys.argv[1] == "--phone":
        OUT = Path(sys.argv[2])
        VIEWPORT.update(PHONE)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        async with serving(make_settings(Path(tmp), usage_flush_seconds=0.2)) as running:
            await _photograph(running)


async def _photograph(running) -> None:  # type: ignore[no-untyped-def]
    async with running.engine.begin() as conn:
        await put_plan(
            conn, "starter", quota=1000, lifetime=3600, mailboxes=10, types=("free", "premium")
        )
        every = ("free", "premium", "custom")
        await put_plan(conn, "team", quota=100_000, lifetime=86_400, mailboxes=500, types=every)
        from ephemail.store import domains

        await domains.add_domain(conn, "inbox.example.net", type_="premium")
    email = await new_web_user(running, "dana@example.org", plan="starter")
    operator = await new_web_user(running, "ops@example.org", is_admin=True, plan="team")
    for other in ("sam@example.org", "lee@example.org"):
        await new_web_user(running, other)
    async with running.engine.begin() as conn:
        await accounts.set_user_disabled(conn, "lee@example.org", True)
        _, key = await accounts.create_key(conn, email)
        old, _ = await accounts.create_key(conn, email)
        await accounts.revoke_key(conn, old.id)
    async with httpx.AsyncClient(
        base_url=running.base_url, headers={"Authorization": f"Bearer {key}"}
    ) as api:
        boxes = []
        for name in ("newsletter-test", "signup-check", None):
            body = {"username": name, "domain": "ephemail.test"} if name else {}
            boxes.append((await api.post("/api/emails", json=body)).json()["data"]["email"])
        for _ in range(137):
            await api.get("/api/domains")
    for n in range(3):
        await running.send(f"Subject: Welcome {n}\r\n\r\nhello\r\n".encode(), [boxes[n % 2]])
    await asyncio.sleep(0.5)  # usage counts reach the database

    # What a first-time visitor sees before anything is there: no mailbox, then no mail.
    newcomer = await new_web_user(running, "new@example.org")
    pages = {
        email: [
            ("/account/api", "api-management"),
            ("/mailboxes", "mailboxes"),
            (f"/mailboxes/{boxes[2]}", "inbox-empty"),
        ],
        operator: [("/admin/users", "operator"), ("/admin/usage", "operator-usage")],
        newcomer: [("/mailboxes", "mailboxes-empty")],
    }
    async with chromium() as browser:
        for who, shots in pages.items():
            async with new_page(browser, running.base_url) as page:
                await sign_in(page, who)
                for path, name in shots:
                    await page.goto(path)
                    await page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
