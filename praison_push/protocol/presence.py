"""Presence frames as clients apply them: a ``presence_diff`` read as single events.

The gateway coalesces a busy channel's presence changes into one
``presence_diff`` per broadcast interval (PROTOCOL.md §8). A client that keeps
presence state applies it as the single-event frames it stands for — joins
and updates are upserts, leaves removals — so code written for
``presence_join`` / ``presence_update`` / ``presence_leave`` needs no change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PRESENCE_DIFF", "PRESENCE_EVENTS", "presence_events"]

#: The frame type of a batch of presence changes.
PRESENCE_DIFF = "presence_diff"
#: The single-event presence frames (PROTOCOL.md §2), in the order a diff lists them.
PRESENCE_EVENTS = ("presence_join", "presence_update", "presence_leave")

_LISTS = (("joins", "presence_join"), ("updates", "presence_update"), ("leaves", "presence_leave"))


def presence_events(frame: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The single-event frames a ``presence_diff`` stands for; ``[]`` for any other frame.

    Each listed client becomes one ``presence_join`` / ``presence_update`` /
    ``presence_leave`` frame with the diff's ``channel``, ``event_id`` and
    ``timestamp``. A diff lists each client once, so the order in which they
    are applied does not matter. Malformed entries are skipped, never raised on.
    """
    if frame.get("type") != PRESENCE_DIFF:
        return []
    data = frame.get("data")
    if not isinstance(data, Mapping):
        return []
    events: list[dict[str, Any]] = []
    for key, kind in _LISTS:
        entries = data.get(key)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("client_id"), str):
                continue
            events.append(
                {
                    "type": kind,
                    "channel": frame.get("channel"),
                    "data": dict(entry),
                    "event_id": frame.get("event_id"),
                    "timestamp": frame.get("timestamp"),
                }
            )
    return events
