"""Which code a figure was measured on: the commit, uncommitted changes, a frozen snapshot."""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

from lib.server import ROOT


def _git(*args: str, timeout: float = 10) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=timeout, check=True
    ).stdout.strip()


def src_fingerprint(src: Path) -> str:
    """A hash of every file under src/, to tell whether the code changed during the runs."""
    digest = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        with contextlib.suppress(OSError):
            digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def snapshot_head(into: Path) -> tuple[Path, str]:
    """Extract src/ of the committed HEAD (read-only `git archive`): code nobody edits mid-run."""
    return snapshot_revision("HEAD", into)


def snapshot_revision(revision: str, into: Path) -> tuple[Path, str]:
    """Extract src/ of any commit (read-only `git archive`), to measure it beside today's."""
    commit = _git("rev-parse", "--short", revision, timeout=30)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src", commit


def source_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes (read-only git)."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return f"{head}" + (" with uncommitted changes in src/" if dirty else "")
