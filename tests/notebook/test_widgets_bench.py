"""``bench/widgets.py --quick`` still runs, and the widget still beats the naive way.

Run as a subprocess exactly as a person would run it, with a bounded timeout.
Only the shape of the result is checked, plus the two claims the widget makes
(≤ ~20 messages/s, under Jupyter's IOPub limits) — not the machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import timeout

#: The bench scripts run as whole programs (their own gateway processes).
pytestmark = pytest.mark.e2e

BENCH = Path(__file__).resolve().parent.parent.parent / "bench" / "widgets.py"


def test_widgets_bench_quick(tmp_path: Path) -> None:
    out = tmp_path / "widgets.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {row["approach"]: row for row in json.loads(out.read_text())["rows"]}
    ours, naive = rows["praison TokenStream"], rows["naive Textarea"]
    assert ours["tokens"] == naive["tokens"] == 4000
    assert ours["messages_per_s"] <= 22 and ours["under_iopub_limits"]
    assert naive["messages"] >= 4000 and not naive["under_iopub_limits"]
    assert ours["bytes"] * 10 < naive["bytes"]
    assert "praison TokenStream" in proc.stdout
