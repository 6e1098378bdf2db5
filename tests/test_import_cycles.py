"""No import cycle among the project's modules: the imports of router/, telemetry/ and
policies/ form a graph with no cycle as they run at import time, as a type checker reads them
(``if TYPE_CHECKING:`` imports included: ``router.core`` <-> ``router.resilience.shared`` was
such a cycle), and with the imports inside functions too (lazy, but still a dependency); and
the packages import one way."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("router", "telemetry", "policies")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _eager_imports(tree: ast.Module, module: str, is_package: bool, *, typing: bool = False, lazy: bool = False) -> set[str]:
    """Modules named by imports that run when ``module`` is imported (``typing``: and those
    under ``if TYPE_CHECKING:``; ``lazy``: every import anywhere, in functions too)."""
    found: set[str] = set()
    if lazy:
        typing = True

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.body if typing else node.orelse)
                continue
            if isinstance(node, (ast.If, ast.Try, ast.With)):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(node, block, []) or [])
                for h in getattr(node, "handlers", []):
                    visit(h.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = module.split(".") if is_package else module.split(".")[:-1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join([*pkg, base] if base else pkg)
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)

    visit(tree.body)
    if lazy:
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(fn.body)
    return found


def import_graph(*, typing: bool = False, lazy: bool = False) -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps = _eager_imports(tree, name, path.name == "__init__.py", typing=typing, lazy=lazy)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # ``import router.x`` runs ``router/__init__`` first; a package's __init__ re-exporting its
    # modules is the usual shape, not a cycle between the modules themselves
    inits = {m for m in graph if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    return {m: {d for d in deps if d not in inits} for m, deps in graph.items()}


def test_no_import_cycle_among_the_modules() -> None:
    found = cycles(_without_package_inits(import_graph()))
    assert found == [], f"import cycles: {found}"


def test_no_import_cycle_as_a_type_checker_reads_them() -> None:
    found = cycles(_without_package_inits(import_graph(typing=True)))
    assert found == [], f"import cycles (TYPE_CHECKING imports included): {found}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_packages_import_one_way() -> None:
    graph = import_graph()
    for module, deps in graph.items():
        top = module.split(".")[0]
        tops = {d.split(".")[0] for d in deps}
        if top == "telemetry":
            assert tops <= {"telemetry"}, (module, deps)
        elif top == "policies":
            assert tops <= {"policies", "telemetry"}, (module, deps)


def test_no_import_cycle_through_imports_in_functions() -> None:
    # an import inside a function is lazy (it runs on first use) but still a dependency: a
    # cycle through one is two modules that need each other, so the piece both need belongs
    # in a third module they both import
    found = cycles(_without_package_inits(import_graph(lazy=True)))
    assert found == [], f"import cycles (imports in functions included): {found}"


def test_the_walker_reads_each_kind_of_import() -> None:
    src = (
        "import pkg.a\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg import b\n"
        "def f():\n    from .c import d\n"
    )
    tree = ast.parse(src)
    assert _eager_imports(tree, "pkg.m", False) == {"pkg.a", "typing", "typing.TYPE_CHECKING"}
    assert _eager_imports(tree, "pkg.m", False, typing=True) >= {"pkg.a", "pkg", "pkg.b"}
    assert _eager_imports(tree, "pkg.m", False, lazy=True) >= {"pkg.a", "pkg.b", "pkg.c", "pkg.c.d"}
