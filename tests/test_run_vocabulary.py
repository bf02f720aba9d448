"""The run vocabulary is written once, in ``protocol/runs.py``.

Run event names, the run feed and the run-channel prefix are string literals
nowhere else in the layers that publish, route and translate runs: those
layers import the words from :mod:`praison_push.protocol.runs`, so a name (or
the set of events that end a run) cannot drift between them. Docstrings may
mention the words; code may not spell them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from praison_push.protocol.runs import RUN_CHANNEL_PREFIX, RUN_FEED, RunEvent

PACKAGE = Path(__file__).resolve().parent.parent / "praison_push"

#: Where runs are published, routed, stored and translated.
CHECKED = [
    *sorted((PACKAGE / "hub").rglob("*.py")),
    *sorted((PACKAGE / "server").rglob("*.py")),
    *sorted((PACKAGE / "backends").rglob("*.py")),
    *sorted((PACKAGE / "agents").rglob("*.py")),
    *sorted((PACKAGE / "client").rglob("*.py")),
    *sorted((PACKAGE / "sync").rglob("*.py")),
    PACKAGE / "protocol" / "dialects.py",
    PACKAGE / "protocol" / "sse.py",
]

_EVENTS = frozenset(event.value for event in RunEvent)


def _docstrings(tree: ast.AST) -> set[int]:
    """``id`` of every docstring constant (module, class and function docstrings)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def spelled_out(source: str) -> list[tuple[int, str]]:
    """``(line, literal)`` of each run word written as a string literal in ``source``."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    hits: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in docstrings:
            continue
        value = node.value
        if value in _EVENTS or value == RUN_FEED or value.startswith(RUN_CHANNEL_PREFIX):
            hits.append((node.lineno, value))
    return hits


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_run_words_come_from_protocol_runs(path: Path) -> None:
    hits = spelled_out(path.read_text(encoding="utf-8"))
    assert not hits, [f"line {line}: {value!r}" for line, value in hits]


def test_the_check_finds_what_it_looks_for() -> None:
    source = '''
"""Docstrings may say execution_complete and executions:<id>."""
TERMINAL = frozenset({"execution_complete", "execution_error"})
FEED = "executions"
PREFIX = f"executions:{1}"
CHANNEL = "executions:" + "x"
USER_CHANNEL = "executions-log"
'''
    assert sorted(spelled_out(source)) == [
        (3, "execution_complete"),
        (3, "execution_error"),
        (4, "executions"),
        (5, "executions:"),
        (6, "executions:"),
    ]
