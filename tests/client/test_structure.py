"""The client's sans-I/O session core imports no I/O, however indirectly.

Read from the source (``ast``), so ``TYPE_CHECKING`` imports count like any other.
Import cycles, module sizes and the run vocabulary are checked package-wide by
``tests/test_layers.py`` and ``tests/test_run_vocabulary.py``.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "praison_push"


def module_name(path: Path) -> str:
    parts = ["praison_push", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The package modules ``path`` imports (``from x import name`` counts ``x.name``
    when that is a module), relative imports resolved, ``TYPE_CHECKING`` included.

    ``from . import sibling`` is an edge to the sibling, not to the package.
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    # A module's own ancestor packages are loaded before it anyway: no edge.
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return {module for module in found if module in known and module not in ancestors | {name}}


@functools.cache  # the package's sources do not change during a run: parsed once
def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(paths)) for name, path in paths.items()}


@pytest.mark.parametrize("module", ["session", "values", "display"])
def test_the_session_core_does_no_io(module: str) -> None:
    path = PACKAGE / "client" / f"{module}.py"
    edges = graph()
    reachable, todo = set(), [module_name(path)]
    while todo:
        current = todo.pop()
        if current not in reachable:
            reachable.add(current)
            todo.extend(edges[current])
    outside = {m for m in reachable if m.split(".")[1] not in ("client", "protocol")}
    assert not outside, outside
    loaded = {m for m in reachable if m.startswith("praison_push.client.")}
    assert loaded <= {f"praison_push.client.{name}" for name in ("session", "values", "display")}
    for current in reachable:
        source = PACKAGE.joinpath(*current.split(".")[1:])
        file = source / "__init__.py" if source.is_dir() else source.with_suffix(".py")
        tree = ast.parse(file.read_text(encoding="utf-8"))
        tops = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and not node.level
        }
        assert not tops & {"asyncio", "socket", "threading", "time", "websockets"}, current
