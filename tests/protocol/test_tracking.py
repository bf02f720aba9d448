"""Client receive state: de-duplication by event id and resume positions (PROTOCOL.md §3)."""

from __future__ import annotations

import pytest

from praison_push.protocol import ReceiveTracker


def test_first_sighting_is_new_repeat_is_not() -> None:
    tracker = ReceiveTracker()
    assert tracker.is_new("e1")
    assert not tracker.is_new("e1")
    assert tracker.is_new("e2")
    assert not tracker.is_new("e1")


def test_empty_id_is_always_new() -> None:
    tracker = ReceiveTracker(window=1)
    assert tracker.is_new("")
    assert tracker.is_new("")
    assert tracker.is_new("a")
    assert not tracker.is_new("a")  # the empty ids did not take a slot


def test_window_evicts_the_oldest() -> None:
    tracker = ReceiveTracker(window=2)
    assert tracker.is_new("a")
    assert tracker.is_new("b")
    assert tracker.is_new("c")  # evicts "a"
    assert tracker.is_new("a")  # so "a" is new again (and evicts "b")
    assert not tracker.is_new("c")
    assert tracker.is_new("b")


def test_a_repeat_refreshes_its_place_in_the_window() -> None:
    tracker = ReceiveTracker(window=2)
    tracker.is_new("a")
    tracker.is_new("b")
    assert not tracker.is_new("a")  # "a" is now the most recent
    tracker.is_new("c")  # evicts "b", not "a"
    assert not tracker.is_new("a")
    assert tracker.is_new("b")


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        ReceiveTracker(window=0)


def test_positions_move_forward_only_within_an_epoch() -> None:
    tracker = ReceiveTracker()
    assert tracker.position("c") is None
    tracker.advance("c", "e1", 5)
    assert tracker.position("c") == ("e1", 5)
    tracker.advance("c", "e1", 3)  # a late redelivery does not move it back
    assert tracker.position("c") == ("e1", 5)
    tracker.advance("c", "e1", 5)
    assert tracker.position("c") == ("e1", 5)
    tracker.advance("c", "e1", 6)
    assert tracker.position("c") == ("e1", 6)


def test_a_new_epoch_replaces_the_position() -> None:
    tracker = ReceiveTracker()
    tracker.advance("c", "e1", 50)
    tracker.advance("c", "e2", 1)
    assert tracker.position("c") == ("e2", 1)


def test_positions_without_epoch_or_offset_are_ignored() -> None:
    tracker = ReceiveTracker()
    tracker.advance("c", None, 5)
    tracker.advance("c", "e1", None)
    assert tracker.position("c") is None


def test_channels_are_independent_and_forget_drops_one() -> None:
    tracker = ReceiveTracker()
    tracker.advance("a", "e", 1)
    tracker.advance("b", "e", 2)
    tracker.forget("a")
    tracker.forget("never-seen")
    assert tracker.position("a") is None
    assert tracker.position("b") == ("e", 2)
