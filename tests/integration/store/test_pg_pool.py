"""The asyncpg pool behind the hot reads and the SQL quota on PostgreSQL."""

from __future__ import annotations

from ephemail.store.pg_pool import LazyPool, asyncpg_dsn


async def test_a_connection_comes_back_without_an_open_transaction(pg_url: str) -> None:
    """The pool skips asyncpg's reset query (a round trip per release); what a cancelled
    reader left open must still end, or the next borrower would run inside its transaction."""
    lazy = LazyPool(asyncpg_dsn(pg_url), 1)
    try:
        pool = await lazy.get()
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TEMP TABLE left_open (x int)")
            assert conn.is_in_transaction()
        async with pool.acquire() as again:  # max size 1: the same connection
            assert not again.is_in_transaction()
            gone = await again.fetchval("SELECT to_regclass('pg_temp.left_open')")
            assert gone is None  # rolled back, not committed
    finally:
        await lazy.close()
