"""The order the suite runs in: the long tests spread over the first half.

The whole-program tests (marker ``e2e``: a bench script, a fresh install, CLI
processes) take 5–20 s each, most tests well under one, and they sit in a few
files. Left in collection order, pytest-xdist hands a worker a contiguous block
of tests, so one worker got all of them and ran them one after another for a
minute after the others had finished. Spread out and started early, each worker
gets its share and the short tests fill in around them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["spread_long"]

T = TypeVar("T")


def spread_long(items: Sequence[T], is_long: Callable[[T], bool]) -> list[T]:
    """``items`` with the long ones spread evenly over the first half of the short ones.

    The order within each group is kept; with no short or no long items
    nothing moves.
    """
    long = [item for item in items if is_long(item)]
    short = [item for item in items if not is_long(item)]
    if not long or not short:
        return list(items)
    step = max(1, len(short) // 2 // len(long))
    spread: list[T] = []
    waiting = iter(long)
    placed = 0
    for index, item in enumerate(short):
        if index % step == 0 and placed < len(long):
            spread.append(next(waiting))
            placed += 1
        spread.append(item)
    spread.extend(waiting)
    return spread
