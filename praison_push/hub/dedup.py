"""The publish de-duplication window (PROTOCOL.md §3: idempotency key ``id``)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["DedupWindow"]


class DedupWindow:
    """Remembers recent ``(channel, id)`` publishes and their receipts.

    Entries expire after ``window`` seconds; at most ``size`` are kept, oldest
    dropped first, so memory stays bounded whatever clients send.
    """

    def __init__(self, window: float, size: int = 100_000) -> None:
        self._window = window
        self._size = size
        self._entries: OrderedDict[tuple[str, str], tuple[float, dict[str, Any]]] = OrderedDict()

    def get(self, channel: str, key: str, now: float) -> dict[str, Any] | None:
        """The receipt of an earlier publish with this key, if still in the window."""
        self._expire(now)
        entry = self._entries.get((channel, key))
        return None if entry is None else entry[1]

    def remember(self, channel: str, key: str, receipt: dict[str, Any], now: float) -> None:
        self._entries[(channel, key)] = (now, receipt)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def _expire(self, now: float) -> None:
        horizon = now - self._window
        entries = self._entries
        while entries:
            first = next(iter(entries.values()))
            if first[0] >= horizon:
                break
            entries.popitem(last=False)
