"""The shape docs/architecture.md promises, read from the source itself.

Every module under src/ephemail is parsed (not imported) and its imports become edges of a
graph: no module imports one of a layer above its own, no two modules import each other in
a circle, and no file grows past MAX_LINES.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "ephemail"
MAX_LINES = 400

# Lowest first, as docs/architecture.md states it: a module may import its own layer and the
# layers below it, never one above. `ephemail` itself is the (empty) root package. A new
# top-level module or package fails the first test until it is given a layer here and there.
# `ephemail.client` (the SDK users install and import) is a layer of its own below the
# service: it may import only itself and the root, and only the CLI may import it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ephemail", "ephemail.client"),
    ("ephemail.core", "ephemail.config"),
    ("ephemail.store", "ephemail.events"),
    ("ephemail.mail", "ephemail.webhooks"),
    ("ephemail.api", "ephemail.web"),
    ("ephemail.sweeper", "ephemail.service", "ephemail.supervisor"),
    ("ephemail.cli",),
)

# Known, pending exceptions; each one is to be removed by the change that fixes it.
# (importing module, imported module) pairs allowed across layers:
LAYER_EXCEPTIONS: set[tuple[str, str]] = set()
# files allowed over MAX_LINES:
LONG_FILE_EXCEPTIONS: set[str] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: the body, and `if`/`try` blocks in it,
    but not `if TYPE_CHECKING:` and not inside functions or classes."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The project modules one import statement loads (a name from a package that is a
    module of its own counts as that module)."""
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            anchor = module.split(".")
            if MODULES[module].name != "__init__.py":
                anchor.pop()
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        names = set()
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            names.add(sub if sub in MODULES else base)
    out = set()
    for name in names:
        while name and name not in MODULES:  # `import a.b.c` of a non-module attribute path
            name = name.rpartition(".")[0]
        if name.split(".")[0] == PACKAGE and name:
            out.add(name)
    return out


def _graph(*, module_level_only: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        if module_level_only:
            nodes: list[ast.Import | ast.ImportFrom] = list(_module_level(tree.body))
        else:
            nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        graph[module] = set().union(*(_targets(module, n) for n in nodes)) - {module}
    return graph


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            exact_only = prefix == PACKAGE
            matches = module == prefix or (not exact_only and module.startswith(prefix + "."))
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the path around it, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_module_has_a_layer_and_the_layers_match_the_docs() -> None:
    for module in MODULES:
        layer_of(module)
    docs = (SRC.parent / "docs" / "architecture.md").read_text()
    order = " < ".join(
        ", ".join(f"`{p.removeprefix('ephemail.')}`" for p in prefixes if p != PACKAGE)
        for prefixes in LAYERS
    )
    assert order in docs, f"docs/architecture.md should state the layer order: {order}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = sorted(
        (module, target)
        for module, targets in _graph(module_level_only=False).items()
        for target in targets
        if layer_of(target) > layer_of(module) and (module, target) not in LAYER_EXCEPTIONS
    )
    assert upward == []


def test_the_sdk_imports_nothing_of_the_service_and_only_the_cli_imports_it() -> None:
    graph = _graph(module_level_only=False)
    sdk = {m for m in MODULES if m == "ephemail.client" or m.startswith("ephemail.client.")}
    outside = sorted((m, t) for m in sdk for t in graph[m] if t not in sdk and t != PACKAGE)
    assert outside == []
    users = sorted(
        (m, t)
        for m, targets in graph.items()
        if m not in sdk and not m.startswith("ephemail.cli")
        for t in targets & sdk
    )
    assert users == []
    assert "ephemail.client" in graph["ephemail.cli.client"]  # the check sees the one user


def test_no_import_circles() -> None:
    assert _cycle(_graph(module_level_only=True)) is None


def test_no_source_file_is_over_the_line_limit() -> None:
    long = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if len(path.read_text().splitlines()) > MAX_LINES
    )
    assert [name for name in long if name not in LONG_FILE_EXCEPTIONS] == []


def test_the_checks_see_violations() -> None:
    """The graph reading is not vacuous: known imports appear, and a planted circle and a
    planted upward import are found."""
    graph = _graph(module_level_only=True)
    assert "ephemail.mail.parse" in graph["ephemail.mail.prepare"]
    assert "ephemail.store.ingest.writer" in graph["ephemail.store.ingest.commit_client"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert layer_of("ephemail.store.reads") < layer_of("ephemail.mail.delivery")
