"""The order the suite runs in: the long tests spread over the first half.

The whole-program tests (marker ``e2e``: a bench script, a fresh install, CLI
processes) take 5–20 s each, most tests well under one, and they sit in a few
files. Left in collection order, pytest-xdist hands a worker a contiguous block
of tests, so one worker got all of them and ran them one after another for a
minute after the others had finished. Spread out and started early, each worker
gets its share and the short tests fill in around them.

What moves is a block: consecutive tests with the same block key move together,
and a long block never lands inside another block. The suite's key keeps the
tests of a module that share a module-scoped fixture (a gateway process, a
Jupyter environment) in one block, so that fixture is still set up once; every
other test is a block of its own, so the long ones spread one by one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

__all__ = ["spread_long"]

T = TypeVar("T")


def spread_long(
    items: Sequence[T], is_long: Callable[[T], bool], block: Callable[[T], Hashable]
) -> list[T]:
    """``items`` with the long blocks spread evenly over the first half of the rest.

    Consecutive items with the same ``block`` key that are all long, or all
    short, form a block; long blocks are placed, in their order, between short
    blocks at about even steps (counted in short items) over the first half.
    The order within each group is kept; with no short or no long items
    nothing moves.
    """
    blocks = [
        list(run)
        for _, run in itertools.groupby(items, key=lambda item: (block(item), is_long(item)))
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
