"""The widgets and the CLI take their run words from ``protocol/runs.py``, nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "praison_push"
#: The surfaces this test owns: the notebook widgets and the command line.
SURFACES = [*sorted((PACKAGE / "notebook").rglob("*.py")), *sorted((PACKAGE / "cli").rglob("*.py"))]

EVENT_LITERAL = re.compile(r"""["']execution_(start|token|tool|complete|error)["']""")
TERMINAL_SET = re.compile(r"frozenset\(\s*\{[^}]*execution_(complete|error)")


def test_no_surface_spells_a_run_event_or_the_terminal_set() -> None:
    found = []
    for path in SURFACES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if EVENT_LITERAL.search(code) or TERMINAL_SET.search(code):
                found.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)


def test_the_trackers_build_on_the_reducer() -> None:
    from praison_push.notebook.widgets._run import RunTracker, ToolTracker
    from praison_push.protocol.runs import RunState

    run = RunTracker()
    tools = ToolTracker(run.state)
    assert isinstance(run.state, RunState) and tools.state is run.state
    events = [
        ("execution_start", {"execution_id": "e1", "agent_id": "a"}),
        ("execution_tool", {"tool_call": {"id": "t", "name": "f", "status": "calling"}}),
        ("execution_token", {"token": "hi", "index": 0, "count": 2}),
        ("execution_token", {"token": "hi", "index": 0}),  # a replayed chunk: ignored
        ("execution_tool", {"tool_call": {"id": "t", "status": "completed", "result": 1}}),
        ("execution_complete", {"output": "hi!", "latency_ms": 10}),
    ]
    for when, (kind, data) in enumerate(events):
        run.handle(kind, data, float(when))
        tools.handle(kind, data, float(when))
    assert run.text.value == "hi!" and run.tokens == 2 and run.done
    assert run.meta["status"] == "completed" and run.meta["execution_id"] == "e1"
    (row,) = tools.rows.rows
    assert row["name"] == "f" and row["status"] == "completed" and row["duration_ms"] == 3000
