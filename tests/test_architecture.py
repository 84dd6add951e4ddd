"""The layering rules of the README, checked on the source: no import cycles, edges point inward,
and the web's routes are adapters of the use cases (``matcher.usecases``): no route imports
another route, the store or SQLAlchemy.

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
EDGES = (
    "matcher.store",
    "matcher.sources",
    "matcher.reports",
    "matcher.usecases",
    "matcher.cli",
    "api",
)
ROUTES = "api.routes"
# Route modules that still hold their own queries or import another route, while their owner
# moves them onto the use cases: each entry must still break a rule (then it is removed).
NOT_YET_ADAPTERS: dict[str, str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str, packages: tuple[str, ...] = PACKAGES) -> set[str]:
    """Modules of ``packages`` imported anywhere in ``path`` (absolute names, relative ones
    resolved)."""
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
    return {name for name in found if name.split(".")[0] in packages}


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


def test_the_use_cases_are_an_edge(graph: nx.DiGraph) -> None:
    # the use cases sit between the store and the web: they import the store, never the web
    assert graph.has_edge("matcher.usecases.facilities", "matcher.store.facilities")
    bad = [b for b in nx.descendants(graph, "matcher.usecases") if b.startswith("api")]
    assert bad == []


# --- routes are adapters -------------------------------------------------------------------------


def _route_modules() -> dict[str, Path]:
    folder = ROOT / "api" / "routes"
    return {_module_name(p): p for p in sorted(folder.glob("*.py")) if p.name != "__init__.py"}


# What a query looks like in a route: SQLAlchemy's statements and a session's reads.
_QUERY_CALLS = frozenset({"select", "insert", "update", "delete", "text", "func"})
_SESSION_READS = frozenset({"execute", "scalars", "scalar", "query"})


def _route_problems(module: str, path: Path) -> list[str]:
    """What makes route module ``module`` more than an adapter."""
    problems = []
    for target in sorted(_imports(path, module, (*PACKAGES, "sqlalchemy"))):
        if target.startswith(ROUTES + ".") and not target.startswith(module):
            problems.append(f"imports the route {target}")
        elif target.split(".")[0] == "sqlalchemy":
            problems.append(f"imports {target}")
        elif target.startswith("matcher.store"):
            problems.append(f"reads the store ({target}) instead of a use case")
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            statement = isinstance(func, ast.Name) and func.id in _QUERY_CALLS
            read = isinstance(func, ast.Attribute) and func.attr in _SESSION_READS
            if statement or read:
                problems.append(f"line {node.lineno}: a query ({ast.unparse(func)}(…))")
    return problems


def test_routes_are_adapters_of_the_use_cases() -> None:
    routes = _route_modules()
    assert {"api.routes.facilities", "api.routes.workspace", "api.routes.pages"} <= set(routes)
    found = {
        m: problems
        for m, path in routes.items()
        if m not in NOT_YET_ADAPTERS and (problems := _route_problems(m, path))
    }
    assert found == {}, f"routes holding a query or importing another route: {found}"


def test_routes_not_yet_adapters_are_listed_only_while_they_are_not() -> None:
    routes = _route_modules()
    for module in NOT_YET_ADAPTERS:
        if module in routes:
            assert _route_problems(module, routes[module]), f"{module} complies: unlist it"


@pytest.mark.parametrize(
    "source, problem",
    [
        ("from .pages import render\n", "imports the route api.routes.pages"),
        ("from sqlalchemy import select\n", "imports sqlalchemy"),
        ("from matcher.store.models import AreaRow\n", "reads the store"),
        ("def f(s):\n    return s.scalars(q)\n", "a query"),
        ("def f(s, x):\n    return s.execute(x)\n", "a query"),
        ("def f(q):\n    return select(q)\n", "a query"),
    ],
)
def test_the_route_check_bites(tmp_path: Path, source: str, problem: str) -> None:
    path = tmp_path / "api" / "routes" / "bad.py"
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    found = _route_problems("api.routes.bad", path)
    assert any(problem in p for p in found), found
