"""The store suite's fixture: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ephemail.store import accounts
from ephemail.store.bootstrap import bootstrap
from ephemail.store.db import create_engine, migrate_async
from ephemail.store.reads import make_reads
from tests.support import make_raw_writer
from tests.support.store import DOMAIN, Store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    await migrate_async(database_url)
    engine = create_engine(database_url)
    await bootstrap(engine, DOMAIN)
    reads = make_reads(database_url)
    writer = make_raw_writer(database_url, engine, mailbox_message_cap=1000, batch_max=64)
    await writer.start()
    async with engine.begin() as conn:
        user = await accounts.create_user(conn, "u@example.org", plan_name="default")
    try:
        yield Store(engine, reads, writer, user)
    finally:
        await writer.stop()
        await reads.close()
        await engine.dispose()
