"""``bench/slow_consumers.py --quick`` still runs: a stalled subscriber on a ``drop``
channel is kept (and told of its gap), on a default channel it is closed 1013."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import timeout

#: The bench scripts run as whole programs (their own gateway processes).
pytestmark = pytest.mark.e2e

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_slow_consumers_quick(tmp_path: Path) -> None:
    report_path = tmp_path / "slow.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "slow_consumers.py"), "--quick", "--json", str(report_path)],
        cwd=BENCH.parent,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout(90),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {row["scenario"]: row for row in json.loads(report_path.read_text())["rows"]}
    assert rows["alone"]["stalled"] == "-"
    assert rows["stalled-drop"]["stalled"] == "kept (channel_gap)"
    assert rows["stalled-disconnect"]["stalled"] == "closed 1013"
    assert all(row["deliveries_per_s"] > 0 for row in rows.values())
