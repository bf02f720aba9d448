"""The in-process delivery store: pending deliveries in dicts (the default).

Pending deliveries follow a client across its reconnects to this gateway, but
not across a restart of the gateway process (``durable`` is ``False``); the
SQLite store (:mod:`.sqlite_delivery`) keeps them on disk, the Redis store
(:mod:`.redis_delivery`) shares them between gateways.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import Any

from .base import (
    DeliveriesRecorded,
    DeliveriesSettled,
    DeliveryChange,
    DeliveryRescheduled,
    PendingDelivery,
)

__all__ = ["MemoryDeliveryStore"]

#: Heap entries of settled publications tolerated (beyond the live ones) before
#: the expiry heap is rebuilt, so acknowledged publications free their memory.
_STALE_SLACK = 1024


class _Publication:
    """One tracked publication and the clients it is still pending for."""

    __slots__ = ("channel", "expires", "frame", "holders", "recorded_at")

    def __init__(
        self, channel: str, frame: dict[str, Any], recorded_at: float, expires: float
    ) -> None:
        self.channel = channel
        self.frame = frame
        self.recorded_at = recorded_at
        self.expires = expires
        self.holders: set[str] = set()


class MemoryDeliveryStore:
    """Pending deliveries of one gateway process (see :class:`DeliveryStore`).

    Per client, ``event_id → [retries, due]``; per publication its frame and
    the clients still holding it, freed with the last one. Expiry is exact: a
    heap orders publications by ``expires``; entries of publications settled
    meanwhile are skipped, and the heap is rebuilt once they outnumber the live
    ones, so memory follows what is pending.
    """

    name = "memory"
    durable = False
    shared = False

    def __init__(self) -> None:
        self._publications: dict[str, _Publication] = {}
        self._clients: dict[str, dict[str, list[Any]]] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()

    def __repr__(self) -> str:
        return f"<MemoryDeliveryStore {self.pending} pending>"

    @property
    def pending(self) -> int:
        """Deliveries pending now (for tests and metrics)."""
        return sum(len(entries) for entries in self._clients.values())

    async def write(self, changes: Sequence[DeliveryChange]) -> None:
        for change in changes:
            if isinstance(change, DeliveriesRecorded):
                self._record(change)
            elif isinstance(change, DeliveriesSettled):
                self._settle(change.client_id, change.event_ids, collect=False)
            elif isinstance(change, DeliveryRescheduled):
                entry = self._clients.get(change.client_id, {}).get(change.event_id)
                if entry is not None:
                    entry[0], entry[1] = change.retries, change.due

    def _record(self, change: DeliveriesRecorded) -> None:
        event_id = change.event_id
        publication = self._publications.get(event_id)
        if publication is None:
            publication = _Publication(
                change.channel, change.frame, change.recorded_at, change.expires
            )
            self._publications[event_id] = publication
            heapq.heappush(self._heap, (change.expires, next(self._order), event_id))
        holders = publication.holders
        for client_id in change.client_ids:
            entries = self._clients.get(client_id)
            if entries is None:
                entries = self._clients[client_id] = {}
            if event_id not in entries:
                entries[event_id] = [0, change.due]
                holders.add(client_id)
        if not holders:
            self._drop(event_id)

    def _settle(
        self, client_id: str, event_ids: Sequence[str], *, collect: bool = True
    ) -> list[PendingDelivery]:
        """Remove ``client_id``'s deliveries ``event_ids``; return those that were pending
        (when ``collect``: an acknowledgement needs no copy of what it removes)."""
        entries = self._clients.get(client_id)
        if entries is None:
            return []
        removed: list[PendingDelivery] = []
        for event_id in event_ids:
            entry = entries.pop(event_id, None)
            if entry is None:
                continue
            publication = self._publications[event_id]
            if collect:
                removed.append(_pending(client_id, event_id, publication, entry))
            publication.holders.discard(client_id)
            if not publication.holders:
                self._drop(event_id)
        if not entries:
            del self._clients[client_id]
        return removed

    def _drop(self, event_id: str) -> None:
        del self._publications[event_id]
        if len(self._heap) > 2 * len(self._publications) + _STALE_SLACK:
            self._heap = [item for item in self._heap if item[2] in self._publications]
            heapq.heapify(self._heap)

    async def load(self, client_id: str) -> list[PendingDelivery]:
        entries = self._clients.get(client_id, {})
        publications = self._publications
        return [
            _pending(client_id, event_id, publications[event_id], entry)
            for event_id, entry in entries.items()
        ]

    async def take(self, client_id: str, event_ids: Sequence[str]) -> list[PendingDelivery]:
        return self._settle(client_id, event_ids)

    async def expire(self, now: float, limit: int) -> list[PendingDelivery]:
        expired: list[PendingDelivery] = []
        while self._heap and self._heap[0][0] <= now and len(expired) < limit:
            event_id = self._heap[0][2]
            publication = self._publications.get(event_id)
            if publication is None:
                heapq.heappop(self._heap)  # settled meanwhile
                continue
            for client_id in sorted(publication.holders):
                if len(expired) >= limit:
                    break
                # The last one drops the publication (and may rebuild the heap).
                expired.extend(self._settle(client_id, [event_id]))
        return expired

    async def close(self) -> None:
        self._publications.clear()
        self._clients.clear()
        self._heap.clear()


def _pending(
    client_id: str, event_id: str, publication: _Publication, entry: list[Any]
) -> PendingDelivery:
    return PendingDelivery(
        client_id=client_id,
        event_id=event_id,
        channel=publication.channel,
        frame=publication.frame,
        recorded_at=publication.recorded_at,
        expires=publication.expires,
        retries=entry[0],
        due=entry[1],
    )
