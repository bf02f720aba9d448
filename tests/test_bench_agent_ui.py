"""``bench/agent_ui.py --quick`` still runs (the numbers are not checked, only that every
stream delivered the whole text)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bench_smoke import run_quick

#: The bench scripts run as whole programs (their own gateway processes).
pytestmark = pytest.mark.e2e


def test_agent_ui_quick_streams_every_token_over_each_protocol(tmp_path: Path) -> None:
    report = run_quick("agent_ui.py", tmp_path / "agent_ui.json")
    rows = {(row["stream"], row["kind"]): row for row in report["rows"]}
    assert set(rows) == {
        ("execute", "live"),
        ("ag-ui", "live"),
        ("ai-sdk", "live"),
        ("ag-ui", "reopen"),
        ("ai-sdk", "reopen"),
    }
    for row in rows.values():
        assert row["error"] is None and row["complete"] is True, row
        assert row["events"] > 0 and row["tokens_per_s"] > 0
