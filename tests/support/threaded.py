"""A real service on its own event loop in a background thread.

For tests that call it from blocking code (the sync SDK, a `pytester` run, a subprocess)
while the test itself holds no loop the service could share.
"""

from __future__ import annotations

import asyncio
import secrets
import smtplib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ephemail.store import accounts
from tests.support.service import Running, make_settings, start_service

T = TypeVar("T")


class ServiceThread:
    """Starts the service (SQLite under `data_dir`) in a thread; `call` runs a coroutine
    on its loop; `stop` shuts both down."""

    def __init__(self, data_dir: Path, **settings: object) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.running: Running = self.call(start_service(make_settings(data_dir, **settings)))
        self.base_url: str = self.running.base_url
        self.smtp_port: int = self.running.smtp_port

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def new_user(self, *, plan: str = "default") -> str:
        """The API key of a new user on `plan`."""
        return self.call(self.running.new_user(plan=plan))[1]

    def new_plan(
        self,
        name: str,
        *,
        quota: int = 1000,
        types: tuple[str, ...] = ("free",),
        max_lifetime: int | None = None,
    ) -> None:
        """A plan of 600 s mailboxes; `max_lifetime` (what extending may reach) only when
        given, as older stores do not know it."""
        extra = {} if max_lifetime is None else {"max_lifetime_seconds": max_lifetime}

        async def go() -> None:
            async with self.running.engine.begin() as conn:
                await accounts.set_plan(
                    conn,
                    name,
                    monthly_quota=quota,
                    mailbox_lifetime=600,
                    max_mailboxes=50,
                    domain_types=types,
                    **extra,
                )

        self.call(go())

    def send(self, raw: bytes, to: str, sender: str = "sender@example.org") -> None:
        """Real SMTP to the service, from this thread."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
            smtp.sendmail(sender, [to], raw)

    def __enter__(self) -> ServiceThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        try:
            self.call(self.running.service.stop(grace=1))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


def unique_plan() -> str:
    return f"plan-{secrets.token_hex(4)}"
