"""Client-side receive state: de-duplication and resume positions (PROTOCOL.md §3).

At-least-once on the wire becomes exactly-once to the handler here: a message
whose ``event_id`` was seen recently is dropped, and each channel remembers the
last ``(epoch, offset)`` received so a resubscribe after a reconnect asks for
exactly what was missed.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["ReceiveTracker"]


class ReceiveTracker:
    """Remembers recent ``event_id``s and each channel's last position.

    Args:
        window: How many recent event ids to remember for de-duplication.
    """

    def __init__(self, window: int = 10_000) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self._window = window
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._positions: dict[str, tuple[str, int]] = {}

    def is_new(self, event_id: str) -> bool:
        """Record ``event_id`` and tell whether it was not seen before.

        An empty id cannot be de-duplicated and always counts as new.
        """
        if not event_id:
            return True
        if event_id in self._seen:
            self._seen.move_to_end(event_id)
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)
        return True

    def forget_event(self, event_id: str) -> None:
        """Forget that ``event_id`` was seen: its next delivery counts as new.

        For a message whose handler failed: the gateway redelivers what was
        not acknowledged, and the handlers get another go at it.
        """
        self._seen.pop(event_id, None)

    def advance(self, channel: str, epoch: str | None, offset: int | None) -> None:
        """Note that ``channel`` has been received up to ``offset`` in ``epoch``.

        Positions only move forward within an epoch; a new epoch replaces the
        old position (history was lost on the gateway).
        """
        if epoch is None or offset is None:
            return
        current = self._positions.get(channel)
        if current is None or current[0] != epoch or offset > current[1]:
            self._positions[channel] = (epoch, offset)

    def position(self, channel: str) -> tuple[str, int] | None:
        """The last ``(epoch, offset)`` received on ``channel``, if any."""
        return self._positions.get(channel)

    def forget(self, channel: str) -> None:
        """Drop ``channel``'s position (after an explicit unsubscribe)."""
        self._positions.pop(channel, None)
