"""The package has no import circles: every module imports only modules that do not import it back.

A static scan of every import statement (at module level and inside functions), so a circle hidden in a
function-level import counts too. ``if __name__ == "__main__":`` blocks are entry points and
``if TYPE_CHECKING:`` blocks are read by type checkers only: neither runs as a dependency. A module importing
a package that encloses it is no edge either: Python has imported every enclosing package before the module.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The package's folders (pyproject's packages); anything else in the checkout (tests, build output,
#: copies of the repository) is not the package.
PACKAGE_FOLDERS = {"engine", "plugin", "training"}
#: Circles that exist today (none); any circle fails the test.
KNOWN_CIRCLES: list[list[str]] = []


def module_files() -> dict[str, Path]:
    """floodsar module name -> file, for every .py file of the package (not the tests)."""
    modules = {}
    for path in REPO_ROOT.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        if parts != ("__init__",) and parts[0] not in PACKAGE_FOLDERS:
            continue
        name = ".".join(("floodsar", *parts))
        modules[name.removesuffix(".__init__")] = path
    return modules


def _runs_on_import(node: ast.stmt) -> bool:
    """False for ``if __name__ == "__main__":`` and ``if TYPE_CHECKING:`` blocks."""
    if not isinstance(node, ast.If):
        return True
    test = node.test
    main = isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
    typing_only = ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
    return not (main or typing_only)


def _without_main_blocks(tree: ast.Module) -> ast.Module:
    tree.body = [node for node in tree.body if _runs_on_import(node)]
    return tree


def imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that module ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(_without_main_blocks(ast.parse(path.read_text(encoding="utf-8")))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                         for alias in node.names)
    return {module for module in found if module in modules and not name.startswith(f"{module}.") and module != name}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_scan_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back() -> None:
    modules = module_files()
    assert "floodsar.training.train" in modules and "floodsar.engine.pipeline" in modules
    graph = {name: imports(name, path, modules) for name, path in modules.items()}
    assert "floodsar.training.evaluate" in graph["floodsar.training.train"]
    assert sorted(circles(graph)) == sorted(KNOWN_CIRCLES)
    assert not any(name.startswith("floodsar.training") for group in KNOWN_CIRCLES for name in group)
