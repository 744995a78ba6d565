"""Alembic environment: every migration is all or nothing, on SQLite too.

SQLite can roll back DDL, but Python's sqlite3 module opens no transaction for `CREATE TABLE`,
so a process killed halfway through the first migration used to leave tables without an
`alembic_version` row, and the service could never start again. SQLite migrations therefore
run on a plain sqlite3 engine that issues `BEGIN` itself; PostgreSQL runs over asyncpg, where
DDL is transactional anyway, under an advisory lock so that one of several workers migrates.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url

from ephemail.store.db import create_engine, is_sqlite
from ephemail.store.schema import metadata
from ephemail.store.sqlite_setup import migration_pragmas

config = context.config
target_metadata = metadata


def _run(connection: Connection) -> None:
    url = str(config.get_main_option("sqlalchemy.url"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(url),
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7411)")
        context.run_migrations()


def _sqlite_main(url: str) -> None:
    engine = create_sync_engine(make_url(url).set(drivername="sqlite"))

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we say BEGIN ourselves, DDL included
        for pragma in migration_pragmas():
            dbapi_conn.execute(pragma)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # also serialises concurrent migrators

    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


async def _async_main(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def _main() -> None:
    url = str(config.get_main_option("sqlalchemy.url"))
    if is_sqlite(url):
        _sqlite_main(url)
    else:
        asyncio.run(_async_main(url))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    _main()
