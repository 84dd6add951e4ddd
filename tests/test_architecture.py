"""The layering rules of the README, checked on the source: no import cycles, edges point inward.

Every import counts, including those inside functions (lazy imports hide cycles, they do not
remove them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("matcher", "api")
# The pure core: what it may import from the project (besides itself).
EDGES = ("matcher.store", "matcher.sources", "matcher.reports", "matcher.cli", "api")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Project modules imported anywhere in ``path`` (absolute names, relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from . import x`` and ``from pkg import module`` import submodules.
            found.update(f"{target}.{a.name}" for a in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(path, name):
            # ``from pkg import name`` where name is not a module: depend on the package.
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                g.add_edge(name, target)
    return g


def test_the_graph_sees_the_project(graph: nx.DiGraph) -> None:
    # A broken walker would find nothing and pass every rule below.
    assert graph.number_of_nodes() > 80
    assert graph.has_edge("matcher.cli", "matcher.cli.match")
    assert graph.has_edge("api.main", "matcher.store.db")


def test_no_import_cycles(graph: nx.DiGraph) -> None:
    # A package importing its own submodules (``__init__`` → child) is not a cycle of concepts;
    # drop the edges from a package to its children before looking.
    g = graph.copy()
    g.remove_edges_from([(a, b) for a, b in graph.edges if b.startswith(a + ".")])
    cycles = list(nx.simple_cycles(g))
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_matcher_never_imports_api(graph: nx.DiGraph) -> None:
    bad = [(a, b) for a, b in graph.edges if a.startswith("matcher") and b.startswith("api")]
    assert bad == []


def test_the_core_imports_no_edge(graph: nx.DiGraph) -> None:
    core = [n for n in graph if n.startswith("matcher") and not n.startswith(EDGES)]
    core = [n for n in core if n != "matcher.__main__"]
    bad = [
        (a, b)
        for a in core
        for b in graph.successors(a)
        if b.startswith(EDGES) and not a.startswith("matcher.cli")
    ]
    assert bad == [], f"core modules importing edges: {bad}"
