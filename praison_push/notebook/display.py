"""One typed door to IPython's ``display`` (IPython's own is untyped)."""

from __future__ import annotations

from typing import Any

from IPython.display import display

__all__ = ["show"]


def show(obj: Any) -> None:
    """Display ``obj`` in the current front end (its text repr in a terminal)."""
    display(obj)  # type: ignore[no-untyped-call]
