"""What the store suite's modules share: a migrated store on one backend, and mail to put in it.

Not a test module: the fixture lives in this directory's conftest.py, the helpers here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from ephemail.store import accounts, mailboxes
from ephemail.store.models import Mailbox, User
from ephemail.store.reads import HotReads
from ephemail.store.schema import mailboxes as mailbox_table
from tests.support.service import RawMailWriter

DOMAIN = "ephemail.test"

MAIL = (
    b"From: Ann <ann@example.org>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
    b"body\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
    b'filename="a.pdf"\r\n\r\n%PDF\r\n--b--\r\n'
)


def plain_mail(subject: str, body: str = "hello") -> bytes:
    return (
        f"From: Bob <bob@example.org>\r\nSubject: {subject}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@dataclass
class Store:
    engine: AsyncEngine
    reads: HotReads
    writer: RawMailWriter
    user: User

    async def new_user(self, email: str, plan: str = "default") -> User:
        async with self.engine.begin() as conn:
            return await accounts.create_user(conn, email, plan_name=plan)

    async def new_box(
        self,
        username: str | None = None,
        *,
        user: User | None = None,
        domain: str | None = None,
    ) -> Mailbox:
        async with self.engine.begin() as conn:
            return await mailboxes.create_mailbox(
                conn, user or self.user, username=username, domain=domain
            )

    async def deliver(self, box: Mailbox, raw: bytes = MAIL) -> str:
        """Store one message for `box` through the real ingest writer; its id."""
        recipient = await self.reads.live_recipient(box.address)
        assert recipient is not None
        (message_id,) = await self.writer.submit("s@example.org", [recipient], raw)
        return message_id

    async def expire(self, box: Mailbox) -> None:
        """The mailbox's lifetime has passed (its expiry set to the distant past)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(mailbox_table).where(mailbox_table.c.id == box.id).values(expire_at=1)
            )
