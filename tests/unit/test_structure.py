"""The package's shape: small modules, classes and functions (see ARCHITECTURE.md).

No module over 400 lines, no class over 300, no function body over 50; the run's core imports
no implementation.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "fnf"
MODULE_LINES, CLASS_LINES, FUNCTION_LINES = 400, 300, 50


def _sizes() -> dict[str, tuple[int, int]]:
    """(size, limit) of every module, class and function body of the package."""
    found: dict[str, tuple[int, int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        source = path.read_text()
        found[name] = (len(source.splitlines()), MODULE_LINES)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                found[f"{name}:{node.name}"] = (node.end_lineno - node.lineno + 1, CLASS_LINES)  # type: ignore[operator]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.end_lineno - node.body[0].lineno + 1  # type: ignore[operator]
                key = f"{name}:{node.name}"
                found[key] = max(found.get(key, (0, 0)), (body, FUNCTION_LINES))
    return found


def test_modules_classes_and_functions_stay_small() -> None:
    too_big = {key: size for key, (size, limit) in _sizes().items() if size > limit}
    assert not too_big, f"over the limit (split it, do not raise the limit): {too_big}"


CORE_MAY_NOT_IMPORT = (
    "fnf.proc",
    "fnf.store.sqlite",
    "fnf.store.airtable",
    "fnf.store.memory",
    "fnf.cli",
    "fnf.commands",
)
"""The run's core depends on contracts (``fnf.store.base``, ``fnf.run.work``) and leaf modules,
never on an executor's or a store's implementation: those are handed to it."""


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_run_depends_on_contracts_not_on_processes_or_stores() -> None:
    wrong = {
        f"run/{path.name}": sorted(m for m in _imports(path) if m.startswith(CORE_MAY_NOT_IMPORT))
        for path in sorted((PACKAGE / "run").glob("*.py"))
    }
    wrong = {name: modules for name, modules in wrong.items() if modules}
    assert not wrong, f"the run's core imports implementations (hand them in instead): {wrong}"
