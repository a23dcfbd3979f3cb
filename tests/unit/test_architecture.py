"""The shape of the code: layers that import only downwards, no import cycles, short modules.

Layers, lowest first (docs/architecture.md): the base (``errors``, ``observability``,
``tracing``), ``domain`` (pure), ``config`` (the settings, checked with what the domain
knows), ``services`` (use cases, talking to
the outside world through ``services.ports``), ``adapters`` (boto3, PynamoDB, requests),
``http`` (what API Gateway's clients see), then ``composition`` (the one place that wires
adapters into services) and ``app.py`` (routes). A module may import its own layer and
the layers below it, never one above, and services never import adapters.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = {"errors", "observability", "tracing"}
#: Each layer and the layers it may import (itself included).
ALLOWED = {
    "base": {"base"},
    "domain": {"base", "domain"},
    "config": {"base", "domain", "config"},
    "services": {"base", "domain", "config", "services"},
    "adapters": {"base", "domain", "config", "adapters"},
    "http": {"base", "domain", "config", "http"},
    "composition": {"base", "domain", "config", "services", "adapters", "http", "composition"},
    "app": {"base", "domain", "config", "services", "adapters", "http", "composition", "app"},
}
#: Longest module, in lines, unless its docstring says why it is longer.
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer(module: str) -> str:
    if module == "app":
        return "app"
    parts = module.split(".")
    if len(parts) == 1:
        return "base"
    if parts[1] in BASE:
        return "base"
    return parts[1]


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The raspa modules ``path`` imports (``chalicelib...`` and ``app``)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n for n in names if n == "app" or n.startswith("chalicelib")}
    return found


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module ``name`` refers to (a name imported from a module is that module)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def graph(*, top_level_only: bool) -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = {resolve(n, known) for n in imports(path, top_level_only=top_level_only)}
        edges[module] = {t for t in targets if t and t != module and t != "chalicelib"}
    return edges


def test_every_module_imports_only_its_own_layer_and_the_layers_below():
    wrong = [
        f"{module} ({layer(module)}) imports {target} ({layer(target)})"
        for module, targets in graph(top_level_only=False).items()
        for target in sorted(targets)
        if layer(target) not in ALLOWED[layer(module)]
    ]
    assert wrong == []


def test_the_modules_import_each_other_without_a_cycle():
    edges = graph(top_level_only=False)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def first_party() -> dict[str, Path]:
    """Every module of the project but its tests: what ships and what does not."""
    found = dict(modules())
    for package in ("ops", "infra", "local", "bench", "reliability", "cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts)] = path
    return found


@pytest.mark.parametrize("module", sorted(first_party()))
def test_a_module_is_short_or_says_why_not(module):
    path = first_party()[module]
    lines = len(path.read_text().splitlines())
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert lines <= MAX_LINES or "Longer than" in docstring, f"{module}: {lines} lines"


def test_app_is_wiring_only():
    assert len((ROOT / "app.py").read_text().splitlines()) < 200
