"""What every `ephemail` command shares: settings, one-line failures, the admin transaction."""

from __future__ import annotations

import asyncio
import os
import tomllib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ephemail.cli.help import PlainGroup

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from ephemail.config import Settings

# The settings, the database and the store are imported by the functions that use them:
# every command loads this module, and `ephemail client …` needs none of them.

T = TypeVar("T")

# Plain click help (`EMAIL`, `INTEGER`): the rich renderer printed `{email}` and `<bool>`.
PLAIN: dict[str, Any] = {"no_args_is_help": True, "rich_markup_mode": None, "cls": PlainGroup}

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file", envvar="EPHEMAIL_CONFIG")
]
_config_path: Path | None = None


class CliError(Exception):
    """A one-line failure for the operator; never a traceback."""


def use_config(config: ConfigOption = None) -> None:
    """The global `--config` option: every command's settings come from this file."""
    global _config_path
    _config_path = config


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from ephemail.config import SettingsError, load_settings

    try:
        return load_settings(_config_path, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"bad setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    except SettingsError as exc:
        fail(str(exc))
    except tomllib.TOMLDecodeError as exc:
        fail(f"cannot read the settings file: {exc}")
    except OSError as exc:
        where = exc.filename or ""
        if where and where == str(config_file()):
            fail(f"cannot read the settings file {where}: {exc.strerror}")
        # The data directory is made on first use; this is when that is impossible.
        fail(f"cannot use the data directory {where}: {exc.strerror or exc}")
    raise AssertionError("unreachable")


def config_file() -> Path | None:
    env = os.environ.get("EPHEMAIL_CONFIG")
    return _config_path or (Path(env) if env else None)


def migrate_or_fail(s: Settings) -> None:
    """Bring the schema up to date, so any command works on a fresh data directory; a
    database that cannot be opened ends the command with one line."""
    from ephemail.store.db import migrate

    url = s.resolved_database_url()
    try:
        migrate(url)
    except Exception as exc:  # a database that cannot be reached is the operator's to fix
        fail(f"cannot open the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")


def with_engine(s: Settings, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run `action` on an engine of the configured database, disposed of afterwards."""
    from ephemail.store.db import create_engine

    async def go() -> T:
        engine = create_engine(s.resolved_database_url())
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def run_admin(action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run one admin action in a transaction; store errors become one-line messages."""
    from ephemail.store.bootstrap import ensure_defaults
    from ephemail.store.errors import StoreError

    s = settings()
    migrate_or_fail(s)

    async def go(engine: AsyncEngine) -> T:
        await ensure_defaults(engine, s.default_domain)
        async with engine.begin() as conn:
            return await action(conn)

    try:
        return with_engine(s, go)
    except (StoreError, CliError) as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def when(epoch: int | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()
