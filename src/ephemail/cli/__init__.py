"""The `ephemail` command: run the service and manage it from a shell.

This module assembles the command tree; each area's commands live in their own module
(serve.py, users.py, plans.py, inboxes.py, client.py), the groups' names and help in
groups.py, and what they share in common.py.
A command group's module is imported only when that group runs: `ephemail client …` never
loads the database stack, and an admin command never loads the HTTP client.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
import typer.main
from typer._click.utils import make_default_short_help

from ephemail.cli.common import PLAIN, use_config
from ephemail.cli.groups import GROUPS
from ephemail.cli.help import (
    ClickException,
    NoArgsIsHelpError,
    PlainCommand,
    PlainGroup,
    UsageError,
    plain_help,
)
from ephemail.cli.serve import migrate_command, purge, serve


class CommandTree(PlainGroup):
    """The top-level group: builds a command group from its module on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in GROUPS if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in GROUPS and cmd_name not in self.commands:
            group = GROUPS[cmd_name]
            sub: typer.Typer = getattr(importlib.import_module(group.module), group.attribute)
            self.add_command(typer.main.get_group(sub), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands and their one-line help, as click lists them, without importing
        the groups not yet used: their help is in GROUPS."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            if name in GROUPS and name not in self.commands:
                rows.append((name, make_default_short_help(GROUPS[name].help, limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and args[0] not in GROUPS:
            for name in GROUPS:  # a typo: "did you mean" looks among every command
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    help="ephemail: temporary email over SMTP with a Temp Mail compatible API.",
    pretty_exceptions_enable=False,
    **{**PLAIN, "cls": CommandTree},
)
app.callback()(use_config)
app.command(cls=PlainCommand)(serve)
app.command("migrate", cls=PlainCommand)(migrate_command)
app.command(cls=PlainCommand)(purge)

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
