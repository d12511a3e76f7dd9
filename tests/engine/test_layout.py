"""The engine's shape: small modules, nothing from QGIS or the plugin (import circles: tests/test_import_graph.py)."""
from __future__ import annotations

import ast
from pathlib import Path

import floodsar.engine

ENGINE = Path(floodsar.engine.__file__).parent
MAX_LINES = 400


def engine_modules() -> dict[str, Path]:
    """Dotted name below floodsar.engine -> file, e.g. 'benchmark.run'."""
    modules = {}
    for path in ENGINE.rglob("*.py"):
        parts = path.relative_to(ENGINE).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_no_engine_module_is_over_400_lines():
    long = {name: n for name, path in engine_modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_engine_never_imports_qgis_or_the_plugin():
    for name, path in engine_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "qgis" for a in node.names), name
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "qgis" and "plugin" not in (node.module or ""), name
