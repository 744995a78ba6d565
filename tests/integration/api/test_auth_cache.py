"""The key cache under load: one lookup per key at a time, renewed before it runs out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import event

from tests.support import make_settings, start_service


async def test_a_busy_key_costs_one_lookup_per_window_not_one_per_request(tmp_path: Path) -> None:
    svc = await start_service(make_settings(tmp_path, auth_cache_seconds=0.5))
    lookups = 0

    def count(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        nonlocal lookups
        if "api_keys" in statement:
            lookups += 1

    try:
        _, key = await svc.new_user()
        event.listen(svc.engine.sync_engine, "before_cursor_execute", count)
        async with svc.client(key) as client:
            # Cold cache: 100 requests at once, as a test suite's pollers would send them.
            responses = await asyncio.gather(*(client.get("/api/domains") for _ in range(100)))
            assert [r.status_code for r in responses] == [200] * 100
            assert lookups == 1
            # Keep the key busy past several windows: the entry is renewed in the background,
            # so requests never wait for the database and never pile up on it.
            started = time.monotonic()
            for _ in range(30):
                batch = await asyncio.gather(*(client.get("/api/domains") for _ in range(10)))
                assert all(r.status_code == 200 for r in batch)
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
        # Renewed at 60 % of the 0.5 s window: one lookup per ~0.3 s of traffic, not 300.
        assert 2 <= lookups <= elapsed / 0.3 + 2
    finally:
        event.remove(svc.engine.sync_engine, "before_cursor_execute", count)
        await svc.service.stop(grace=1)
