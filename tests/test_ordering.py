"""The suite's order spreads the long tests (``support.ordering``)."""

from __future__ import annotations

from support.ordering import spread_long


def _module(item: str) -> str:
    return item.split("::")[0]


def _is_long(item: str) -> bool:
    return item.startswith("L")


def test_long_modules_are_spread_over_the_first_half_whole_and_in_order() -> None:
    short = [f"s{m}::{t}" for m in range(8) for t in range(5)]  # 8 modules of 5
    long = [f"L{m}::{t}" for m in range(4) for t in range(2)]  # 4 modules of 2
    order = spread_long(short + long, _is_long, _module)
    assert sorted(order) == sorted(short + long)
    assert [item for item in order if not _is_long(item)] == short  # order kept
    assert [item for item in order if _is_long(item)] == long
    starts = [order.index(f"L{m}::0") for m in range(4)]
    for m, start in enumerate(starts):
        assert order[start + 1] == f"L{m}::1"  # a module's long tests stay together
    # 20 short items (half of 40) over 4 long modules: one before every 5 short
    # items, i.e. at each module boundary of the first half.
    assert starts == [0, 7, 14, 21]


def test_nothing_lands_inside_a_module() -> None:
    short = [f"s0::{t}" for t in range(10)] + [f"s1::{t}" for t in range(10)]
    order = spread_long([*short, "L0::0", "L1::0", "L2::0"], _is_long, _module)
    modules = [_module(item) for item in order]
    # Each short module is one run: the long ones went before or between them.
    assert modules.count("s0") == 10 and modules.count("s1") == 10
    first, last = modules.index("s0"), len(modules) - 1 - modules[::-1].index("s0")
    assert modules[first : last + 1] == ["s0"] * 10
    assert sorted(order) == sorted([*short, "L0::0", "L1::0", "L2::0"])


def test_a_module_with_both_kinds_keeps_its_short_tests_in_place() -> None:
    items = ["m::a", "m::b", "Lm::c", "n::d", "n::e"]
    order = spread_long(items, lambda item: "L" in item, _module)
    assert [item for item in order if "L" not in item] == ["m::a", "m::b", "n::d", "n::e"]
    assert order[0] == "Lm::c"


def test_nothing_moves_without_both_kinds() -> None:
    assert spread_long(["a::1", "b::1"], lambda item: False, _module) == ["a::1", "b::1"]
    assert spread_long(["a::1", "b::1"], lambda item: True, _module) == ["a::1", "b::1"]
