"""The client's and the blocking face's shape: no import cycle, small modules, one run
vocabulary, and a session core that does no I/O.

Read from the source (``ast``), so ``TYPE_CHECKING`` imports count like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from praison_push.protocol.runs import RUN_CHANNEL_PREFIX, RunEvent

PACKAGE = Path(__file__).resolve().parents[2] / "praison_push"
FACES = ("client", "sync")
MAX_LINES = 500


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


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(paths)) for name, path in paths.items()}


def face_modules() -> list[Path]:
    return sorted(p for face in FACES for p in (PACKAGE / face).rglob("*.py"))


def test_no_import_cycle_runs_through_the_client_or_the_blocking_face() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    ours = [c for c in cycles if any(m.split(".")[1] in FACES for m in c)]
    assert not ours, "\n".join(" -> ".join(cycle) for cycle in ours)


@pytest.mark.parametrize("path", face_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_LINES, f"{path.name} has {lines} lines"


def string_constants(path: Path) -> list[tuple[int, str]]:
    """String literals of ``path`` that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize("path", face_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_run_vocabulary_is_only_spelled_in_protocol_runs(path: Path) -> None:
    words = {event.value for event in RunEvent}
    spelled = [
        (line, value)
        for line, value in string_constants(path)
        if value in words or value.startswith(RUN_CHANNEL_PREFIX)
    ]
    assert not spelled, f"use praison_push.protocol.runs instead: {spelled}"


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
