"""`ephemail serve`, `migrate` and `purge`: the commands that run or maintain the service."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ephemail.cli.common import migrate_or_fail, settings, with_engine

if TYPE_CHECKING:
    from ephemail.config import Settings
    from ephemail.store.bootstrap import FirstStart

# The service and the store are imported by the commands: `ephemail` loads this module for
# every command, `ephemail client …` included.

FIRST_START_KEY_FILE = "first-start-key.txt"


def serve(
    smtp_port: Annotated[int | None, typer.Option(help="SMTP port (default 2525)")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port (default 8025)")] = None,
    host: Annotated[str | None, typer.Option(help="Address for both listeners")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes sharing the ports")] = 1,
) -> None:
    """Run SMTP, the API and the sweeper. Creates the admin and an API key on first start."""
    from ephemail import supervisor

    supervisor.exit_on_stop_signal()  # first: a stop while the rest loads ends cleanly too
    from ephemail.store.bootstrap import bootstrap

    overrides: dict[str, int | str | None] = {"smtp_port": smtp_port, "http_port": http_port}
    if host:
        overrides.update(smtp_host=host, http_host=host)
    s = settings(**overrides)
    logging.basicConfig(
        level=s.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic lists each of its own plugins at INFO on every start; the migrations it runs
    # (alembic.runtime.migration) are what an operator wants to see.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migrate_or_fail(s)
    first = with_engine(s, lambda engine: bootstrap(engine, s.default_domain))
    if first is not None:
        _announce_first_start(s, first)
    typer.echo(
        f"ephemail serving SMTP on {s.smtp_host}:{s.smtp_port}, HTTP on "
        f"{s.resolved_public_url()} (API docs at {s.resolved_public_url()}/api/docs), "
        f"{workers} worker(s), data in {s.data_dir}"
    )
    sys.stdout.flush()
    supervisor.run(s, workers)


def _announce_first_start(s: Settings, first: FirstStart) -> None:
    """The admin key goes to a person, never into a service log: to the terminal when one is
    attached, otherwise into a file only the service's user can read."""
    from ephemail.config import private_dir, write_private

    lines = [f"  user:    {first.admin_email}", f"  API key: {first.api_key}"]
    if sys.stdout.isatty():
        typer.echo("First start: created the admin user and an API key. It is shown only once:")
        for line in lines:
            typer.echo(line)
        return
    private_dir(s.data_dir)
    path = s.data_dir / FIRST_START_KEY_FILE
    write_private(path, "\n".join(lines) + "\n")
    typer.echo(
        f"First start: created the admin user and an API key; the key is in {path.resolve()} "
        "(readable only by this user). Delete the file once you have the key."
    )


def migrate_command() -> None:
    """Create or upgrade the database schema (serve does this on start)."""
    migrate_or_fail(settings())
    typer.echo("schema is up to date")


def purge() -> None:
    """Delete expired mailboxes with their mail now, instead of waiting for the sweeper."""
    from ephemail.sweeper import sweep_once

    s = settings()
    migrate_or_fail(s)
    removed = with_engine(s, lambda engine: sweep_once(engine, s.sweep_batch))
    typer.echo(f"removed {removed} expired mailbox(es)")
