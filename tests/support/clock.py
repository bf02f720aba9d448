"""A settable clock for code that takes time as an argument."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """A settable clock: ``clock()`` reads it, ``advance()`` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now
