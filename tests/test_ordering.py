"""The suite's order spreads the long tests (``support.ordering``)."""

from __future__ import annotations

import itertools

from support.ordering import spread_long


def test_long_items_are_spread_over_the_first_half_in_order() -> None:
    items = [f"s{i}" for i in range(40)] + ["L0", "L1", "L2", "L3"]
    order = spread_long(items, lambda item: item.startswith("L"))
    assert sorted(order) == sorted(items)
    positions = [order.index(f"L{i}") for i in range(4)]
    assert positions == sorted(positions)  # the long ones keep their order
    assert positions[0] == 0 and positions[-1] < len(order) // 2
    gaps = {b - a for a, b in itertools.pairwise(positions)}
    assert gaps == {6}  # evenly: the first 20 short ones, 5 before each long one
    assert [item for item in order if item.startswith("s")] == items[:40]


def test_more_long_than_short_items_all_come_through() -> None:
    items = ["s0", "L0", "L1", "L2", "s1"]
    order = spread_long(items, lambda item: item.startswith("L"))
    assert order == ["L0", "s0", "L1", "s1", "L2"]


def test_nothing_moves_without_both_kinds() -> None:
    assert spread_long(["a", "b"], lambda item: False) == ["a", "b"]
    assert spread_long(["a", "b"], lambda item: True) == ["a", "b"]
