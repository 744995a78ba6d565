"""The `ephemail` command: run the service and manage it from a shell.

This module assembles the command tree; each area's commands live in their own module
(serve.py, users.py, plans.py, inboxes.py, client.py) and what they share in common.py.
"""

from __future__ import annotations

import sys

import typer

from ephemail.cli.client import client_app
from ephemail.cli.common import PLAIN, use_config
from ephemail.cli.help import (
    ClickException,
    NoArgsIsHelpError,
    PlainCommand,
    UsageError,
    plain_help,
)
from ephemail.cli.inboxes import domain_app, mailbox_app
from ephemail.cli.plans import plan_app
from ephemail.cli.serve import migrate_command, purge, serve
from ephemail.cli.users import key_app, user_app

app = typer.Typer(
    help="ephemail: temporary email over SMTP with a Temp Mail compatible API.",
    pretty_exceptions_enable=False,
    **PLAIN,
)
app.callback()(use_config)
app.command(cls=PlainCommand)(serve)
app.command("migrate", cls=PlainCommand)(migrate_command)
app.command(cls=PlainCommand)(purge)
for name, sub in (
    ("user", user_app),
    ("key", key_app),
    ("domain", domain_app),
    ("plan", plan_app),
    ("mailbox", mailbox_app),
    ("client", client_app),
):
    app.add_typer(sub, name=name)

USAGE_ERROR = 2


def main() -> None:
    """Run the CLI; a usage error is one `error: …` line and exit status 2, no boxed block."""
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(plain_help(exc.ctx.get_help()))
        sys.exit(USAGE_ERROR)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "ephemail"
        typer.echo(f"error: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(USAGE_ERROR)
    except ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
