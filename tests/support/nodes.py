"""Several services on one database in one test process, as `serve --workers` (SQLite, with
the node's commit process) or several machines (PostgreSQL) run them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ephemail.config import Settings
from ephemail.mail.smtp import bind_socket
from ephemail.service import Service
from ephemail.store.bootstrap import bootstrap
from ephemail.store.db import migrate_async
from ephemail.store.ingest import start_commit_process
from tests.support.service import Running


@asynccontextmanager
async def nodes(settings: Settings, count: int) -> AsyncIterator[list[Running]]:
    """`count` services on one database, as `serve --workers` or several machines run them."""
    url = settings.resolved_database_url()
    await migrate_async(url)
    committer = start_commit_process(url, settings.sqlite_synchronous, count, "warning")
    services: list[Service] = []
    try:
        for i in range(count):
            sock = committer.sockets[i] if committer else None
            service = Service(settings, shared=True, commit_socket=sock)
            services.append(service)
            await service.start(
                bind_socket("127.0.0.1", 0, reuse_port=False),
                bind_socket("127.0.0.1", 0, reuse_port=False),
            )
        first = await bootstrap(services[0].engine, settings.default_domain)
        assert first is not None
        yield [
            Running(s, settings, first.api_key, s.smtp_port, f"http://127.0.0.1:{s.http_port}")
            for s in services
        ]
    finally:
        for service in services:
            await service.stop(grace=1)
        if committer is not None:
            await asyncio.to_thread(committer.wait, 10)
