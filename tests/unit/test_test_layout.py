"""The layout of the suite itself: what tests share lives in tests/support, never in a test.

A test module that imports another drags that module's tests, fixtures and import-time
work along, and breaks when the other module moves or is renamed. The files are parsed,
not imported.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
INTEGRATION_GROUPS = {"api", "smtp", "store", "cli", "client", "harness", "web", "webhooks", "ops"}


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p.name.startswith("test_"))


def _python_files() -> list[Path]:
    """Every Python file of the suite but the vendor's client snippets (not our code)."""
    return sorted(p for p in TESTS.rglob("*.py") if "seed_clients" not in p.parts)


def _imported(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            if not _is_test_module(node.module):  # `from tests.integration import test_x`
                names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):  # relative: the suite has no packages for it
            names.append("." * node.level + (node.module or ""))
    return names


def _is_test_module(name: str) -> bool:
    """`tests.integration.api.test_x`, `tests.conftest`, or the bare `test_x`/`conftest`
    that pytest's rootdir-relative sys.path entries would also let through."""
    parts = name.split(".")
    if name.startswith("."):
        return True
    if parts[0] == "tests" and len(parts) > 1 and parts[1] != "support":
        return True
    return parts[0].startswith("test_") or parts[0] == "conftest"


def test_no_test_module_imports_another() -> None:
    offenders = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in _python_files()
        for name in _imported(path)
        if _is_test_module(name)
    ]
    assert offenders == [], "move what they share into tests/support:\n" + "\n".join(offenders)


def test_test_modules_have_unique_names() -> None:
    """pytest imports test files by basename (no __init__.py), so two of one name clash."""
    counts = Counter(p.name for p in _test_modules())
    assert [name for name, n in counts.items() if n > 1] == []


def test_integration_tests_are_grouped_by_what_they_test() -> None:
    loose = [
        str(p.relative_to(TESTS))
        for p in _test_modules()
        if p.relative_to(TESTS).parts[0] == "integration" and len(p.relative_to(TESTS).parts) != 3
    ]
    groups = {
        p.parent.name for p in _test_modules() if p.relative_to(TESTS).parts[0] == "integration"
    }
    assert loose == [], f"put these in one of tests/integration/{sorted(INTEGRATION_GROUPS)}"
    assert groups <= INTEGRATION_GROUPS
