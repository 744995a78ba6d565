"""The one writer of the generated doc sections (docs/benchmarks.md, docs/reliability.md).

Each script owns the block between `<!-- name:start -->` and `<!-- name:end -->` of one
document and rewrites only that block.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lib.server import ROOT


@dataclass(frozen=True)
class Doc:
    path: Path
    intro: str  # the start of the document when it does not exist yet


BENCHMARKS = Doc(
    ROOT / "docs" / "benchmarks.md",
    """# Benchmarks

Every figure here is produced by a script under `bench/` that starts its own server on
loopback ports with a fresh temporary data directory, drives it from a separate load process
on the same machine, checks what was stored against what was acknowledged, and rewrites its
own section of this file (between its `<!-- name:start -->` / `<!-- name:end -->` markers)
when run with `--write-doc`. Client and server share the machine, so the figures are for the
whole box, not for the server alone; each section names the machine and the exact command.
""",
)
RELIABILITY = Doc(
    ROOT / "docs" / "reliability.md",
    "# Reliability\n\n"
    "What ephemail promises when things go wrong (a killed process, a graceful stop under "
    "load, hostile input) and the harnesses that check those promises against a real server. "
    "Each section below is written by the script it names, from that script's last full run; "
    "the figures are measurements on the machine stated there.\n",
)


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _marks(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def read_section(doc: Doc, name: str) -> str:
    """The current body of section `name`, or "" when there is none."""
    start, end = _marks(name)
    text = doc.path.read_text() if doc.path.exists() else ""
    if start not in text or end not in text.split(start, 1)[1]:
        return ""
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def write_section(doc: Doc, name: str, body: str) -> None:
    """Replace section `name` of `doc` (or append it), keeping everything else.

    The file is re-read right before writing (others may have changed it) and replaced through
    a temporary file and a rename, so a reader never sees half of it.
    """
    start, end = _marks(name)
    text = doc.path.read_text() if doc.path.exists() else doc.intro
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.path.parent.mkdir(parents=True, exist_ok=True)
    temporary = doc.path.with_name(f".{doc.path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, doc.path)
    print(f"updated {doc.path}", flush=True)
