"""Screenshots of the reading pages for docs/screenshots/ (not a test; run it by hand):

    .venv/bin/python tests/browser/screenshots_reader.py [--phone DIR]

Starts a service on free ports over a temporary SQLite file, fills a mailbox with real SMTP
mail, and saves the inbox, a message and the token inbox at 1280×800. `--phone DIR` also
saves the same pages at 390×844 into DIR, to look at the small-screen layout.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.async_api import Page  # noqa: E402

from tests.support import make_settings, start_service  # noqa: E402
from tests.support.browser import VIEWPORT, chromium, new_page, sign_in  # noqa: E402
from tests.support.reader import PNG, text_message, token_of, web_mailbox  # noqa: E402
from tests.support.samples import text_mail  # noqa: E402
from tests.support.service import Running  # noqa: E402
from tests.support.web import new_web_user  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
NEWSLETTER = """<html><body style="margin:0;background:#f4f4f7">
<table width="100%" cellpadding="0" cellspacing="0" bgcolor="#f4f4f7"><tr><td align="center">
<table width="560" cellpadding="24" cellspacing="0" bgcolor="#ffffff" style="border-radius:8px">
<tr><td><img src="cid:logo@acme.example" alt="Acme" width="48" height="48">
<h1 style="font-family:Georgia,serif;color:#222">Welcome to Acme Cloud</h1>
<p style="color:#444">Thanks for signing up. Confirm your address to finish creating
your account.</p>
<p><a href="https://acme.example/confirm?t=8f3a" style="background:#0b57d0;color:#fff;
padding:10px 18px;border-radius:6px;text-decoration:none">Confirm my address</a></p>
<p style="color:#888;font-size:13px">If you did not sign up, ignore this message.</p>
<img src="https://tracker.acme.example/open.gif" width="1" height="1" alt="">
</td></tr></table></td></tr></table></body></html>"""


def _newsletter(to: str) -> bytes:
    msg = text_mail(
        to,
        "Confirm your Acme Cloud account",
        "Thanks for signing up. Confirm your address: https://acme.example/confirm",
        sender="Acme Cloud <hello@acme.example>",
    )
    msg.add_alternative(NEWSLETTER, subtype="html")
    html = msg.get_payload()[1]  # type: ignore[index]
    html.add_related(PNG, maintype="image", subtype="png", cid="<logo@acme.example>")
    msg.add_attachment(
        b"%PDF-1.4 terms", maintype="application", subtype="pdf", filename="terms.pdf"
    )
    return msg.as_bytes()


async def _fill(running: Running, address: str) -> None:
    await running.send(
        text_message(address, "Your verification code", "Your code is 639 112. It expires soon."),
        [address],
    )
    await running.send(text_message(address, "Reset your password", "Someone asked..."), [address])
    await running.send(_newsletter(address), [address])
    await running.send(
        text_message(address, "Your login code: 482 913", "Use 482 913 to sign in."), [address]
    )


async def _shoot(page: Page, name: str, phone_dir: Path | None) -> None:
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(OUT / f"{name}.png"))
    if phone_dir is not None:
        await page.set_viewport_size(PHONE)
        await page.screenshot(path=str(phone_dir / f"{name}-phone.png"), full_page=True)
        await page.set_viewport_size(VIEWPORT)


async def main(phone_dir: Path | None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        running = await start_service(make_settings(Path(tmp)))
        try:
            email = await new_web_user(running, "ada@example.org")
            address = await web_mailbox(running, email, "ada-signups")
            await _fill(running, address)
            token = await token_of(running, address)
            async with chromium() as browser, new_page(browser, running.base_url) as page:
                await sign_in(page, email)
                await page.goto(f"/mailboxes/{address}")
                await page.locator("#live-status[data-state=live]").wait_for()
                await (
                    page.locator(".mail-item", has_text="Reset your password")
                    .get_by_role("link")
                    .click()
                )
                await page.go_back()
                await _shoot(page, "inbox", phone_dir)
                await (
                    page.locator(".mail-item", has_text="Confirm your Acme")
                    .get_by_role("link")
                    .click()
                )
                await _shoot(page, "message", phone_dir)
                async with new_page(browser, running.base_url) as stranger:
                    await stranger.goto(f"/inbox/{token}")
                    await stranger.locator("#live-status[data-state=live]").wait_for()
                    await _shoot(stranger, "token-inbox", phone_dir)
        finally:
            await running.service.stop(grace=1)


if __name__ == "__main__":
    phone = Path(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--phone" else None
    asyncio.run(main(phone))
