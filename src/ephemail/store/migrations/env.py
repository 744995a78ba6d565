"""Alembic environment: runs migrations over the service's async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from ephemail.store.db import create_engine, is_sqlite
from ephemail.store.schema import metadata

config = context.config
target_metadata = metadata


def _run(connection: Connection) -> None:
    url = str(config.get_main_option("sqlalchemy.url"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(url),
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several workers may start at once: one migrates, the others wait.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7411)")
        context.run_migrations()


async def _main() -> None:
    url = str(config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_main())
