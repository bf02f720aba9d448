"""The order the suite runs in: the long tests' modules spread over the first half.

The whole-program tests (marker ``e2e``: a bench script, a fresh install, CLI
processes) take 5–20 s each, most tests well under one, and they sit in a few
files. Left in collection order, pytest-xdist hands a worker a contiguous block
of tests, so one worker got all of them and ran them one after another for a
minute after the others had finished. Spread out and started early, each worker
gets its share and the short tests fill in around them.

What moves is a module's run of long tests, whole, and it lands between two
modules, never inside one: a module-scoped fixture (a gateway process, a
Jupyter environment) is still set up once per module.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

__all__ = ["spread_long"]

T = TypeVar("T")


def spread_long(
    items: Sequence[T], is_long: Callable[[T], bool], module: Callable[[T], Hashable]
) -> list[T]:
    """``items`` with each module's long ones spread evenly over the first half of the rest.

    Consecutive items of one module that are all long, or all short, form a
    block; long blocks are placed, in their order, between short blocks at
    about even steps (counted in short items) over the first half. The order
    within each group is kept; with no short or no long items nothing moves.
    """
    blocks = [
        list(block)
        for _, block in itertools.groupby(items, key=lambda item: (module(item), is_long(item)))
    ]
    long = [block for block in blocks if is_long(block[0])]
    short = [block for block in blocks if not is_long(block[0])]
    if not long or not short:
        return list(items)
    half = sum(len(block) for block in short) / 2
    order: list[T] = []
    placed = seen = 0
    for block in short:
        while placed < len(long) and seen >= placed * half / len(long):
            order.extend(long[placed])
            placed += 1
        order.extend(block)
        seen += len(block)
    for block in long[placed:]:
        order.extend(block)
    return order
