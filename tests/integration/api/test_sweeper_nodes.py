"""Exactly one sweep per expired mailbox, however many services sweep one database: three
nodes on PostgreSQL (an advisory lock lets one sweep at a time) and three workers of a SQLite
node (DELETE … RETURNING claims the rows), each sweeping every 50 ms."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from ephemail.events.model import MAILBOX_EXPIRED
from ephemail.store import accounts, mailboxes
from ephemail.store.schema import mailboxes as mailbox_table
from tests.support import make_settings
from tests.support.nodes import nodes

BOXES = 40


async def test_each_expired_mailbox_is_swept_and_told_once(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        tmp_path, database_url=database_url, sweep_interval=0.05, sweep_batch=3
    )
    caplog.set_level(logging.WARNING)
    async with nodes(settings, 3) as services:
        told: Counter[int] = Counter()
        for node in services:  # every node hears every event; count what one node hears
            assert node.service.bus.name in ("postgresql", "commit-process")
        services[0].service.bus.listen(
            MAILBOX_EXPIRED, lambda event: told.update([event.mailbox_id])
        )
        one = services[0]
        await one.roomy_default_plan()
        email, _ = await one.new_user()
        async with one.engine.begin() as conn:
            user = await accounts.require_user(conn, email)
            ids = [(await mailboxes.create_mailbox(conn, user)).id for _ in range(BOXES)]
            kept = (await mailboxes.create_mailbox(conn, user)).id
        async with one.engine.begin() as conn:  # all expire at the same moment
            await conn.execute(
                update(mailbox_table).where(mailbox_table.c.id.in_(ids)).values(expire_at=1)
            )
        for _ in range(200):
            if sum(told.values()) >= BOXES:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time for a second telling, were there one
        assert told == Counter(ids)  # each once, and nothing else
        async with one.engine.connect() as conn:
            left = (await conn.execute(select(func.count()).select_from(mailbox_table))).scalar()
            assert left == 1 and await mailboxes.get_by_id(conn, kept) is not None
    failures = [r for r in caplog.records if "sweep" in r.getMessage()]
    assert failures == []
