"""The layer rules of DESIGN.md, enforced by reading every module's imports.

Lower layers never import higher ones; the protocol core imports no I/O, no
event loop and no clock; the hub knows no web framework and no concrete backend.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "praison_push"

#: layer → (internal layers it may import, third-party top-level modules it may import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "protocol": ({"protocol"}, {"pydantic"}),
    "config": ({"protocol"}, {"pydantic"}),
    "backends": ({"backends", "protocol", "config"}, {"redis"}),
    "agents": ({"agents", "protocol"}, {"praisonaiagents"}),
    "hub": ({"hub", "protocol", "config", "backends.base", "agents"}, set()),
    "server": (
        {"server", "hub", "backends", "agents", "protocol", "config"},
        {"starlette", "uvicorn"},
    ),
    "client": ({"client", "protocol", "config"}, {"websockets", "httpx"}),
    "sync": ({"sync", "client"}, set()),
    "notebook": (
        {"notebook", "client", "sync", "server"},
        {"anywidget", "ipywidgets", "IPython", "traitlets"},
    ),
    "cli": ({"server", "sync", "client", "config"}, set()),
}

#: Standard-library modules the sans-I/O core must not touch (I/O, event loops, clocks).
PROTOCOL_FORBIDDEN_STDLIB = {
    "asyncio", "socket", "ssl", "selectors", "threading", "time", "http", "urllib",
    "subprocess", "multiprocessing", "concurrent", "os", "random",
}  # fmt: skip


def _layer(path: Path) -> str | None:
    relative = path.relative_to(PACKAGE)
    if len(relative.parts) == 1:
        return {"config.py": "config", "cli.py": "cli"}.get(relative.name)
    return relative.parts[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_parts = ["praison_push", *path.relative_to(PACKAGE).with_suffix("").parts]
    if module_parts[-1] == "__init__":
        module_parts.pop()
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level + (path.name == "__init__.py")]
                name = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    found.extend((f"{name}.{alias.name}", node.lineno) for alias in node.names)
                    continue
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return found


def _internal_target(name: str) -> str:
    """``praison_push.backends.base`` → ``backends.base``-aware layer key."""
    parts = name.split(".")[1:]
    if not parts:
        return ""
    if parts[0] == "backends" and len(parts) > 1 and parts[1] == "base":
        return "backends.base"
    if parts[0] in {"config", "cli"}:
        return parts[0]
    return parts[0]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _layer(p) is not None)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_its_layer(path: Path) -> None:
    layer = _layer(path)
    assert layer is not None
    internal_ok, third_party_ok = RULES[layer]
    problems: list[str] = []
    for name, line in _imports(path):
        top = name.split(".")[0]
        if top == "praison_push":
            target = _internal_target(name)
            allowed = target in internal_ok or (
                target == "backends.base" and "backends" in internal_ok
            )
            if not allowed:
                problems.append(f"line {line}: {layer} imports {name}")
        elif top in sys.stdlib_module_names or top == "__future__":
            if layer == "protocol" and top in PROTOCOL_FORBIDDEN_STDLIB:
                problems.append(f"line {line}: the sans-I/O core imports {name}")
        elif top not in third_party_ok:
            problems.append(f"line {line}: {layer} imports third-party {name}")
    assert not problems, "\n".join(problems)


def test_every_layer_has_modules_checked() -> None:
    layers = {_layer(path) for path in MODULES}
    assert {
        "protocol",
        "config",
        "backends",
        "hub",
        "server",
        "client",
        "sync",
        "cli",
    } <= layers


def test_redis_only_in_its_backend_module() -> None:
    for path in (PACKAGE / "backends").rglob("*.py"):
        if path.stem.startswith("redis"):
            continue
        assert not any(name.split(".")[0] == "redis" for name, _ in _imports(path)), path
