"""The bench scripts' command lines: a parser described by the script's own docstring, and
their many plain options written as table rows rather than one `add_argument` block each."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# flags (space-separated, e.g. "--messages -n"), converter, default, help
Option = tuple[str, Callable[[str], Any], Any, str | None]


def script_parser(doc: str | None, *, epilog: str | None = None) -> argparse.ArgumentParser:
    """A parser whose description is the docstring's first paragraph; the rest of the
    docstring, kept as written, is the epilog unless one is given."""
    paragraphs = (doc or "").split("\n\n")
    return argparse.ArgumentParser(
        description=paragraphs[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=epilog if epilog is not None else "\n\n".join(paragraphs[1:]) or None,
    )


def add_options(parser: argparse.ArgumentParser, rows: Iterable[Option]) -> None:
    """One `--option VALUE` per row."""
    for flags, convert, default, text in rows:
        parser.add_argument(*flags.split(), type=convert, default=default, help=text)


def add_switches(parser: argparse.ArgumentParser, rows: Iterable[tuple[str, str]]) -> None:
    """One on/off `--switch` per row: flag, help."""
    for flag, text in rows:
        parser.add_argument(flag, action="store_true", help=text)


def add_choice_lists(
    parser: argparse.ArgumentParser, rows: Iterable[tuple[str, Sequence[str], str]]
) -> None:
    """One `--option NAME [NAME ...]` per row, choosing among fixed names (flag, names,
    help); all of them by default."""
    for flag, names, text in rows:
        parser.add_argument(flag, choices=names, nargs="+", default=list(names), help=text)


def bounded(low: int, high: int) -> Callable[[str], int]:
    """An integer converter that refuses values outside low..high."""

    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse
