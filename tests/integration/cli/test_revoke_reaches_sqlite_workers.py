"""On SQLite without Redis, `ephemail key revoke` reaches the running service at once (its
local inbox), however long the key cache window: the key is refused within a second, and
the event stream it opened ends."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from ephemail.store.schema import api_keys, users
from tests.support import make_settings, start_service
from tests.support.events import events, next_event


async def test_cli_revoke_reaches_a_running_sqlite_service(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth_cache_seconds=300)
    running = await start_service(settings)
    try:
        assert running.service.bus.name == "local"
        email, key = await running.new_user()
        box = await running.new_mailbox(email)
        async with running.client(key) as client:
            assert (await client.get("/api/domains")).status_code == 200  # cached now
            async with client.stream("GET", "/api/events", params={"email": box}) as response:
                stream = events(response)
                await asyncio.wait_for(anext(stream), 5)
                async with running.engine.connect() as conn:
                    key_id = (
                        await conn.execute(
                            select(api_keys.c.id).join(users).where(users.c.email == email)
                        )
                    ).scalar_one()
                env = {
                    **os.environ,
                    "EPHEMAIL_DATA_DIR": str(tmp_path),
                    "EPHEMAIL_SECRET_KEY": settings.secret_key,
                }
                env.pop("EPHEMAIL_DATABASE_URL", None)
                env.pop("EPHEMAIL_REDIS_URL", None)
                done = await asyncio.to_thread(
                    subprocess.run,
                    [str(Path(sys.executable).parent / "ephemail"), "key", "revoke", str(key_id)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert done.returncode == 0, done.stderr
                assert "warning" not in done.stderr
                revoked_at = time.monotonic()
                last = await next_event(stream, within=2)
                assert last["event"] == "key.revoked"
            while (await client.get("/api/domains")).status_code != 401:
                assert time.monotonic() - revoked_at < 1.0
                await asyncio.sleep(0.02)
    finally:
        await running.service.stop(grace=1)
    assert list((tmp_path).glob("*.events/*.sock")) == []  # the stopped service left none
