"""Jittered exponential backoff as a pure function of the attempt number."""

from __future__ import annotations

import pytest

from praison_push.protocol import Backoff


def test_defaults() -> None:
    backoff = Backoff()
    assert (backoff.initial, backoff.maximum, backoff.factor, backoff.jitter) == (
        0.25,
        30.0,
        2.0,
        0.5,
    )


def test_no_jitter_grows_by_factor_then_caps() -> None:
    backoff = Backoff(initial=1.0, maximum=10.0, factor=2.0, jitter=0.0)
    delays = [backoff.delay(attempt, 0.7) for attempt in range(7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


def test_jitter_range_is_the_upper_fraction_of_the_delay() -> None:
    backoff = Backoff(initial=4.0, maximum=100.0, factor=3.0, jitter=0.5)
    # Equal jitter: never less than half the delay, never more than all of it.
    assert backoff.delay(0, 0.0) == 2.0
    assert backoff.delay(0, 0.5) == 3.0
    assert backoff.delay(0, 0.999999) == pytest.approx(4.0)
    assert backoff.delay(1, 0.0) == 6.0


@pytest.mark.parametrize("rnd", [0.0, 0.1, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("attempt", [0, 1, 5, 10, 64, 65, 10_000])
def test_every_delay_is_within_bounds(attempt: int, rnd: float) -> None:
    backoff = Backoff()
    base = min(backoff.maximum, backoff.initial * backoff.factor ** min(attempt, 64))
    delay = backoff.delay(attempt, rnd)
    assert base * (1 - backoff.jitter) <= delay <= base
    assert 0 <= delay <= backoff.maximum


def test_huge_attempt_counts_do_not_overflow() -> None:
    assert Backoff(factor=10.0, jitter=0.0).delay(10**9, 0.5) == 30.0


def test_full_jitter_may_be_zero() -> None:
    backoff = Backoff(initial=1.0, maximum=1.0, jitter=1.0)
    assert backoff.delay(3, 0.0) == 0.0
    assert backoff.delay(3, 0.25) == 0.25


def test_factor_one_is_constant() -> None:
    backoff = Backoff(initial=0.5, maximum=0.5, factor=1.0, jitter=0.0)
    assert {backoff.delay(n, 0.3) for n in range(10)} == {0.5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": -1.0}, "initial"),
        ({"initial": 5.0, "maximum": 1.0}, "initial <= maximum"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": 1.5}, "jitter"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)


def test_is_frozen() -> None:
    backoff = Backoff()
    with pytest.raises(AttributeError):
        backoff.initial = 1.0  # type: ignore[misc]
