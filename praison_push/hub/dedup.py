"""The publish de-duplication window of a gateway on its own (PROTOCOL.md §3: ``id``).

The in-memory :class:`~praison_push.backends.base.DedupStore`: right for one
gateway that never restarts. Gateways sharing Redis keep the window there,
and a gateway with a SQLite delivery store keeps it in that file, so a publish
re-sent to another gateway, or after a restart, is published once
(docs/ARCHITECTURE.md, "Scale-out").
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["DedupWindow"]


class DedupWindow:
    """Remembers recent ``(channel, key)`` publishes and their receipts, in memory.

    Entries expire after ``window`` seconds (claims in progress after their
    ``claim_ttl``); at most ``size`` are kept, oldest dropped first, so memory
    stays bounded whatever clients send.
    """

    name = "memory"
    shared = False

    def __init__(self, window: float, size: int = 100_000) -> None:
        self._window = window
        self._size = size
        #: (channel, key) → (expires, receipt); ``{}`` while the publish is in progress.
        self._entries: OrderedDict[tuple[str, str], tuple[float, dict[str, Any]]] = OrderedDict()

    async def claim(
        self, channel: str, key: str, *, now: float, claim_ttl: float
    ) -> dict[str, Any] | None:
        self._expire(now)
        entry = self._entries.get((channel, key))
        if entry is not None and entry[0] > now:
            return entry[1]
        self._put((channel, key), now + claim_ttl, {})
        return None

    async def remember(
        self, channel: str, key: str, receipt: dict[str, Any], *, now: float, window: float
    ) -> None:
        self._put((channel, key), now + window, receipt)

    async def release(self, channel: str, key: str) -> None:
        self._entries.pop((channel, key), None)

    async def close(self) -> None:
        return None

    def _put(self, key: tuple[str, str], expires: float, receipt: dict[str, Any]) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (expires, receipt)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def _expire(self, now: float) -> None:
        """Drop expired entries from the front (the oldest written)."""
        entries = self._entries
        while entries:
            first = next(iter(entries.values()))
            if first[0] > now:
                break
            entries.popitem(last=False)
