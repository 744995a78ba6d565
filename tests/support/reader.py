"""Mail the reading-page tests send, and the mailbox changes they make.

Shared by the HTTP tests (tests/integration/web/) and the browser tests (tests/browser/).
"""

from __future__ import annotations

import base64
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import update

from ephemail.store import accounts, mailboxes
from ephemail.store.schema import mailboxes as mailbox_rows
from tests.support.samples import text_mail
from tests.support.service import Running

# A 1×1 blue PNG: a real image, so a browser shows it.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGOQ978IAAHQAUDegA0oAAAAAElFTkSuQmCC"
)
SCRIPT_TITLE = "pwned-by-script"


def hostile_message(to: str, remote: str, subject: str = "Your order has shipped") -> bytes:
    """HTML with a script, an onerror handler, a remote image, an inline cid: image and an
    attachment: what a mail reader must show without running or fetching anything."""
    msg = EmailMessage()
    msg["From"] = "Parcel Shop <orders@shop.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Your order has shipped.")
    html = (
        "<html><head><script>document.title='" + SCRIPT_TITLE + "'</script></head><body>"
        "<h2 id='hello'>Your order has shipped</h2>"
        "<p>Tracking number <b>1Z999AA10123456784</b>.</p>"
        f"<img id='remote' src='{remote}/pixel.png' alt='tracking pixel'>"
        "<img id='broken' src='x' onerror=\"document.title='" + SCRIPT_TITLE + "'\">"
        "<img id='logo' src='cid:logo@shop.example' alt='Shop logo'>"
        "<a href='https://shop.example/track' onclick=\"alert(1)\">Track your parcel</a>"
        "<script>fetch('" + remote + "/script-ran')</script>"
        "</body></html>"
    )
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    html_part.add_related(PNG, maintype="image", subtype="png", cid="<logo@shop.example>")
    msg.add_attachment(b"Invoice 42\n", maintype="text", subtype="plain", filename="invoice.txt")
    return msg.as_bytes()


def text_message(
    to: str,
    subject: str,
    body: str = "Your code is 123456",
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    """Plain text mail from a sign-up robot, with one text attachment `(name, bytes)` if given."""
    sender = "Sign-up Robot <robot@service.example>"
    return text_mail(to, subject, body, sender=sender, attachment=attachment).as_bytes()


async def web_mailbox(running: Running, email: str, username: str | None = None) -> str:
    """A mailbox of a web user (made as the mailboxes page makes one)."""
    async with running.engine.begin() as conn:
        user = await accounts.require_user(conn, email)
        box = await mailboxes.create_mailbox(conn, user, username=username)
    return box.address


async def expire(running: Running, address: str) -> None:
    """Let the mailbox's time run out now (the sweeper has not purged it yet)."""
    async with running.engine.begin() as conn:
        await conn.execute(
            update(mailbox_rows)
            .where(mailbox_rows.c.address == address)
            .values(expire_at=int(time.time()) - 1)
        )


async def rename(running: Running, email: str, address: str, username: str) -> str:
    async with running.engine.begin() as conn:
        user = await accounts.require_user(conn, email)
        box = await mailboxes.rename_mailbox(conn, user, address, username, address.split("@")[1])
    return box.address


async def delete(running: Running, email: str, address: str) -> None:
    async with running.engine.begin() as conn:
        user = await accounts.require_user(conn, email)
        assert await mailboxes.delete_mailbox(conn, user.id, address) is not None


async def token_of(running: Running, address: str) -> str:
    """The mailbox's email token, as the mailboxes page links it."""
    async with running.engine.connect() as conn:
        for box in await mailboxes.list_for_user(conn, await _owner(running, address)):
            if box.address == address:
                return str(running.service.api_context.tokens.seal(box.id, box.life_secret))
    raise AssertionError(f"no live mailbox {address}")


async def _owner(running: Running, address: str) -> int:
    async with running.engine.connect() as conn:
        row = (
            await conn.execute(mailbox_rows.select().where(mailbox_rows.c.address == address))
        ).first()
    assert row is not None
    return int(row.user_id)


async def message_ids(running: Running, address: str) -> list[str]:
    """The mailbox's message ids, newest first (SMTP has acknowledged them: they are stored)."""
    from ephemail.store.schema import messages

    async with running.engine.connect() as conn:
        rows = await conn.execute(
            messages.select()
            .join(mailbox_rows, mailbox_rows.c.id == messages.c.mailbox_id)
            .where(mailbox_rows.c.address == address)
            .order_by(messages.c.seq.desc())
        )
        return [str(row.id) for row in rows]


class Recorder:
    """A local HTTP server standing in for "the internet": it records every path asked and
    answers each with the PNG. `start()`, then `stop()`."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
