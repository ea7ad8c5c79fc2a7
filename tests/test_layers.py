"""The import graph points one way: core ← collectors / rules ← application, migrations on core.

Every ``import`` in the product packages counts, function-local ones included (a lazy import
dodges a cycle at run time but is the same dependency).  A failure names the edge to remove.
The layers are documented in docs/architecture.md; this is their check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "collectors", "rules", "migrations")
#: the core every stage stands on: settings that are not plug-ins, validation, redaction,
#: secrets, plug-in discovery, the schedule's cron maths, classification and the whole store
CORE = (
    "agent.cron",
    "agent.plugins",
    "agent.redact",
    "agent.secrets",
    "agent.settings",
    "agent.store",
    "agent.validation",
    "agent.workloads",
)
#: the application modules that render findings: they read them through agent.store only
RENDERERS = ("agent.report", "agent.notify", "agent.status")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The product module an imported name lives in (``a.b.c`` → ``a.b`` if ``c`` is a name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def _graph() -> dict[str, dict[str, int]]:
    """module → {imported product module: line of the first such import}."""
    edges: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for module, path in MODULES.items():
        for name, line in _imports(module, path):
            target = _resolve(name)
            if target and target != module:
                edges[module].setdefault(target, line)
    return edges


GRAPH = _graph()


def _where(a: str, b: str) -> str:
    return f"{MODULES[a].relative_to(ROOT)}:{GRAPH[a][b]} ({a} -> {b})"


def _cycle() -> list[str] | None:
    """One import cycle as a path a → … → a, or None (iterative DFS, white/grey/black)."""
    state: dict[str, int] = {}
    for start in sorted(GRAPH):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(GRAPH[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(GRAPH[child]))))
                path.append(child)
    return None


def _layer(module: str) -> str:
    if module.startswith("migrations"):
        return "migrations"
    if any(module == c or module.startswith(c + ".") for c in CORE):
        return "core"
    return module.split(".")[0] if module.split(".")[0] != "agent" else "application"


ALLOWED = {
    "core": {"core"},
    "collectors": {"core", "collectors"},
    "rules": {"core", "rules"},
    "migrations": {"core", "migrations"},
    "application": {"core", "collectors", "rules", "application"},
}


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle; break one of: " + "; ".join(
        _where(a, b) for a, b in pairwise(cycle)
    )


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_stands_on(layer: str) -> None:
    wrong = [
        _where(a, b)
        for a in sorted(GRAPH)
        if _layer(a) == layer
        for b in sorted(GRAPH[a])
        if _layer(b) not in ALLOWED[layer]
        and not (a == "agent.store.engine" and b == "migrations")  # finds its scripts' folder
    ]
    assert not wrong, f"{layer} may import only {sorted(ALLOWED[layer])}; remove: " + "; ".join(
        wrong
    )


def test_renderers_read_findings_through_the_store_not_the_rules() -> None:
    wrong = [
        _where(a, b)
        for a in sorted(GRAPH)
        if a.startswith(RENDERERS)
        for b in sorted(GRAPH[a])
        if _layer(b) == "rules"
    ]
    assert not wrong, "use agent.store's typed findings API instead: " + "; ".join(wrong)


def test_the_graph_sees_function_local_imports() -> None:
    """Guard for the checker itself: a lazy import is an edge too."""
    assert "collectors.base" in GRAPH["agent.config"]
    local = [
        (m, t)
        for m, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.ImportFrom) and inner.module and (t := _resolve(inner.module))
    ]
    assert all(t in GRAPH[m] for m, t in local)
