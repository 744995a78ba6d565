"""Helpers the tests share: start a real service and drive it."""

from __future__ import annotations

import asyncio
import secrets
import smtplib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ephemail.api.auth import Authenticator
from ephemail.config import Settings
from ephemail.mail.prepare import prepare
from ephemail.mail.smtp.server import bind_socket
from ephemail.service import Service
from ephemail.store import accounts, mailboxes
from ephemail.store.bootstrap import bootstrap
from ephemail.store.db import migrate_async
from ephemail.store.ingest import MessageWriter, make_writer
from ephemail.store.models import Recipient
from tests.support.plans import put_plan


class RawMailWriter:
    """A store writer driven with raw mail, as delivery drives it: prepare, then store.

    For store tests that exercise the writer without an SMTP session in front of it.
    """

    def __init__(self, writer: MessageWriter) -> None:
        self.inner = writer

    @property
    def transactions(self) -> int:
        return self.inner.transactions

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def submit(
        self, envelope_from: str, recipients: Sequence[Recipient], raw: bytes
    ) -> list[str]:
        return await self.inner.store(prepare(envelope_from, recipients, raw))


def make_raw_writer(*args: Any, **kwargs: Any) -> RawMailWriter:
    """`store.ingest.make_writer`, wrapped in a RawMailWriter."""
    return RawMailWriter(make_writer(*args, **kwargs))


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "secret_key": secrets.token_urlsafe(32),
        "smtp_port": 0,
        "http_port": 0,
        "sweep_interval": 3600.0,
        "sqlite_synchronous": "NORMAL",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Running:
    """A service started by a test, with the handles a test needs to drive it."""

    service: Service
    settings: Settings
    admin_key: str
    smtp_port: int
    base_url: str

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.service.engine

    def service_auth(self) -> Authenticator:
        """The API's key cache, for tests that must not wait out its TTL."""
        auth: Authenticator = self.service.api_context.auth
        return auth

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Accept": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)

    async def roomy_default_plan(self) -> None:
        """Quota and limits that never get in the way of a test that makes many mailboxes."""
        async with self.engine.begin() as conn:
            await put_plan(
                conn,
                "default",
                quota=100_000_000,
                lifetime=86_400,
                mailboxes=100_000,
                types=("free", "premium", "custom"),
                max_lifetime=7 * 86_400,  # a mailbox may be extended six times
            )
        self.service_auth().clear()  # users cached with the old plan see the new one now

    async def new_user(self, email: str | None = None, *, plan: str = "default") -> tuple[str, str]:
        """(email, api key) of a new user on `plan`."""
        email = email or f"user-{secrets.token_hex(4)}@example.org"
        async with self.engine.begin() as conn:
            await accounts.create_user(conn, email, plan_name=plan)
            _, key = await accounts.create_key(conn, email)
        return email, key

    async def new_mailbox(self, email: str, username: str | None = None) -> str:
        async with self.engine.begin() as conn:
            user = await accounts.require_user(conn, email)
            box = await mailboxes.create_mailbox(conn, user, username=username)
        return box.address

    async def send(
        self, raw: bytes, to: list[str], sender: str = "sender@example.org"
    ) -> dict[str, tuple[int, bytes]]:
        """Send real SMTP from a thread (smtplib blocks); returns refused recipients."""

        def go() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
                return smtp.sendmail(sender, to, raw)

        return await asyncio.to_thread(go)


async def start_service(settings: Settings) -> Running:
    await migrate_async(settings.resolved_database_url())
    smtp_sock = bind_socket("127.0.0.1", 0, reuse_port=False)
    http_sock = bind_socket("127.0.0.1", 0, reuse_port=False)
    service = Service(settings)
    await service.start(smtp_sock, http_sock)
    first = await bootstrap(service.engine, settings.default_domain)
    assert first is not None
    return Running(
        service=service,
        settings=settings,
        admin_key=first.api_key,
        smtp_port=service.smtp_port,
        base_url=f"http://127.0.0.1:{service.http_port}",
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Running]:
    """A started service for the block, stopped when it ends, whatever happens in it."""
    svc = await start_service(settings)
    try:
        yield svc
    finally:
        await svc.service.stop(grace=1)
