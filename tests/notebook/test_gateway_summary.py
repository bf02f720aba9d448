"""The in-process gateway's summary: numbers that read well, a state that tells the truth."""

from __future__ import annotations

from praison_push.notebook.gateway import start_gateway


def test_the_summary_counts_and_says_when_it_stopped() -> None:
    gw = start_gateway()
    try:
        client = gw.client(client_id="summary")
        summary = gw.summary()
        assert "● running" in summary and "1 connection ·" in summary
        assert summary.endswith("no runs running")
        client.execute("echo", "hi").wait(10)
        assert gw.summary().endswith("no runs running")  # a finished run is not "1 runs"
        assert "token set (hidden)" in gw._repr_html_() and gw.token not in gw._repr_html_()
        client.close()
    finally:
        gw.stop()
    assert "○ stopped" in gw.summary() and "○ stopped" in repr(gw)
