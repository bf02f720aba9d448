"""Widget-test fixtures: a private flusher per test, widgets closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from praison_push.notebook.widgets import Flusher, StreamWidget, _base


class ManualFlusher(Flusher):
    """Never flushes by itself: the test decides when, with ``widget.flush()``."""

    def mark(self, widget: object) -> None:
        pass


@pytest.fixture
def deterministic_widgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """No front end loads here, so deltas may go out at once; and widgets made
    without a ``flusher`` only send when the test flushes them.

    Not autouse: tests of the notebook face (magics, reprs) get real widgets.
    """
    monkeypatch.setattr(StreamWidget, "open_grace", 0.0)
    monkeypatch.setattr(_base, "get_flusher", ManualFlusher)


@pytest.fixture
def flusher() -> Iterator[Flusher]:
    """A flusher of the production pace, whose idle snapshots never fire by themselves."""
    instance = Flusher(interval=0.05, idle_after=3600.0)
    yield instance
    instance.close()


@pytest.fixture
def widgets() -> Iterator[list[StreamWidget]]:
    """Widgets appended here are closed after the test."""
    made: list[StreamWidget] = []
    yield made
    for widget in made:
        widget.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Jupyter server (JupyterLab 4 and Notebook 7) for every browser test of the session."""
    from .jupyter_server import start_lab

    with start_lab(tmp_path_factory) as server:
        yield server
