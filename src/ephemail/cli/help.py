"""Plain help and one-line usage errors for the `ephemail` command.

Typer's help marks arguments `{email}` and option values `<str>`, `<bool>`: placeholders a
reader has to decode. These command classes render click's plain help, then write an
argument as `EMAIL`, a value as `TEXT`/`INT`/`PATH`, and a flag without one, keeping the
columns aligned.
"""

from __future__ import annotations

import re
from typing import Any

# Typer vendors click: its usage errors are these classes, not the `click` package's.
from typer._click.exceptions import (
    ClickException as ClickException,
)
from typer._click.exceptions import (
    NoArgsIsHelpError as NoArgsIsHelpError,
)
from typer._click.exceptions import (
    UsageError as UsageError,
)
from typer.core import TyperCommand, TyperGroup

_VALUE_NAMES = {"str": "TEXT", "int": "INT", "float": "NUM", "path": "PATH", "bool": ""}
_PLACEHOLDER = re.compile(r"\{(\w+)\}|<(\w+)(?: range)?>")


def _plain_word(match: re.Match[str]) -> str:
    if match.group(1):
        word = match.group(1).upper()
    else:
        word = _VALUE_NAMES.get(match.group(2), match.group(2).upper())
    return word.ljust(len(match.group(0)))  # same width: the help columns stay aligned


_ARGUMENT_ROW = re.compile(r"^(  )([a-z_]+) (TEXT|INT|NUM|PATH)\b")


def _argument_row(match: re.Match[str]) -> str:
    """`  email TEXT` → `  EMAIL     `: an argument is named, it takes no flag."""
    return match.group(1) + match.group(2).upper().ljust(len(match.group(0)) - 2)


def plain_help(text: str) -> str:
    lines = (_PLACEHOLDER.sub(_plain_word, line) for line in text.split("\n"))
    return "\n".join(_ARGUMENT_ROW.sub(_argument_row, line).rstrip() for line in lines)


class _Plain:
    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)  # type: ignore[misc]
        formatter.buffer[:] = [plain_help("".join(formatter.buffer))]


class PlainCommand(_Plain, TyperCommand):
    pass


class PlainGroup(_Plain, TyperGroup):
    pass
