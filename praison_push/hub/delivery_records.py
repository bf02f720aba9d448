"""The delivery tracker's records: what one tracked delivery is, in memory.

A publication tracked for many clients is one :class:`Tracked` record shared
by all of them (their first attempt costs a dict entry each); a delivery that
was redelivered, or read back from the store, gets a :class:`Retry` of its own.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from typing import Any

from ..backends.base import (
    DeliveriesRecorded,
    DeliveryChange,
    DeliveryRescheduled,
    PendingDelivery,
)
from .connection import Connection
from .scopes import DEAD_LETTER, display_name, is_run_name, scoped_name

__all__ = [
    "Burial",
    "ClientDeliveries",
    "Entry",
    "Position",
    "Retry",
    "RetryQueue",
    "Tracked",
    "TrackedChannels",
    "dead_letter_channel",
    "in_order",
    "parked",
    "parts",
    "replays",
    "restored",
]

#: Channel names whose tracking decision is cached (the cache starts over past this).
_DECISIONS = 10_000
#: The retry queue is compacted when it holds more than twice its live entries (and this many).
_MIN_COMPACT = 4_096


def dead_letter_channel(channel: str) -> str:
    """Where dead letters of ``channel`` go: ``$dead-letter``, org-scoped like the channel.

    An organisation's scoped channel (``notifications#acme``) dead-letters to
    ``$dead-letter#acme``, which only that organisation's clients can name, so
    a dead letter never shows a message to another organisation.
    """
    shown = display_name(channel)
    org = channel[len(shown) + 1 :] if shown != channel else None
    return scoped_name(DEAD_LETTER, org or None)


class TrackedChannels:
    """Which channels' deliveries are tracked: all, or those matching ``patterns``.

    Run channels and run feeds (replayable history) and gateway channels
    (``$…``, where dead letters go) never are. Patterns are ``fnmatch`` globs
    matched against the name clients use; decisions are cached per channel.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = tuple(patterns)
        self._decisions: dict[str, bool] = {}

    def tracks(self, channel: str) -> bool:
        """Whether deliveries on the internal ``channel`` are tracked."""
        decided = self._decisions.get(channel)
        if decided is None:
            if len(self._decisions) >= _DECISIONS:
                self._decisions.clear()
            decided = self._decisions[channel] = self._decide(channel)
        return decided

    def _decide(self, channel: str) -> bool:
        if channel.startswith("$") or is_run_name(channel):
            return False
        if not self._patterns:
            return True
        shown = display_name(channel)
        return any(fnmatchcase(shown, pattern) for pattern in self._patterns)


class Tracked:
    """One tracked publication, shared by the first attempts of all its recipients.

    ``clients`` lists them for the store until the journal writes the record;
    then it is let go, so a publication acknowledged by everyone costs nothing more.
    """

    __slots__ = ("channel", "clients", "due", "event_id", "expires", "frame", "recorded_at")

    def __init__(
        self,
        event_id: str,
        channel: str,
        frame: dict[str, Any],
        recorded_at: float,
        expires: float,
        due: float,
    ) -> None:
        self.event_id = event_id
        self.channel = channel
        self.frame = frame
        self.recorded_at = recorded_at
        self.expires = expires
        self.due = due
        self.clients: list[str] | None = []

    def change(self) -> DeliveriesRecorded:
        """The store change recording this publication's deliveries (asked for once)."""
        clients, self.clients = self.clients, None
        return DeliveriesRecorded(
            self.event_id,
            self.channel,
            self.frame,
            self.recorded_at,
            self.expires,
            self.due,
            clients or (),
        )


class Retry:
    """A delivery past its first attempt: redelivered, or read back from the store."""

    __slots__ = ("due", "message", "retries")

    def __init__(self, message: Tracked, retries: int, due: float) -> None:
        self.message = message
        self.retries = retries
        self.due = due


#: A client's pending entry: its first attempt (the shared publication) or a retry.
Entry = Tracked | Retry


class ClientDeliveries:
    """A stable client connected to this node: its connections and pending deliveries.

    First attempts (``first``) are kept in delivery order, which is the order
    they fall due, so the timer reads them from the front; retries (``later``)
    are timed by the tracker's heap.
    """

    __slots__ = ("client_id", "connections", "first", "later", "loaded", "loading", "removed")

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.connections: list[Connection] = []
        self.first: dict[str, Tracked] = {}
        self.later: dict[str, Retry] = {}
        self.loaded = False
        self.loading: asyncio.Future[None] | None = None
        #: Event ids removed while the store is read, so the read cannot bring them back.
        self.removed: set[str] | None = None

    def __len__(self) -> int:
        return len(self.first) + len(self.later)

    def holds(self, event_id: str) -> bool:
        return event_id in self.first or event_id in self.later

    def pop(self, event_id: str) -> Entry | None:
        """Remove one pending delivery (noted while the store is read)."""
        entry: Entry | None = self.first.pop(event_id, None)
        if entry is None:
            entry = self.later.pop(event_id, None)
        if self.removed is not None:
            self.removed.add(event_id)
        return entry

    def on_channel(self, channel: str) -> list[tuple[str, Entry]]:
        """The pending deliveries of one channel."""
        found: list[tuple[str, Entry]] = [
            (event_id, m) for event_id, m in self.first.items() if m.channel == channel
        ]
        found.extend(
            (event_id, r) for event_id, r in self.later.items() if r.message.channel == channel
        )
        return found


class RetryQueue:
    """Retries by due time, on a heap; an entry is live while its client still holds it.

    Rescheduling pushes a new entry and leaves the old one to be skipped when it
    comes up; once stale entries outnumber live ones the heap is rebuilt, so it
    stays bounded by what is pending however often clients reconnect.

    Args:
        clients: The tracker's connected clients (the same dict, kept up to date).
    """

    def __init__(self, clients: dict[str, ClientDeliveries]) -> None:
        self._clients = clients
        self._heap: list[tuple[float, int, str, str, Retry]] = []
        self._order = itertools.count()
        self._compact_at = _MIN_COMPACT

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: float, client_id: str, event_id: str, entry: Retry) -> None:
        heapq.heappush(self._heap, (due, next(self._order), client_id, event_id, entry))
        if len(self._heap) > self._compact_at:
            self._heap = [item for item in self._heap if self._live(item)]
            heapq.heapify(self._heap)
            self._compact_at = max(_MIN_COMPACT, 2 * len(self._heap))

    def due(self, now: float) -> Iterator[tuple[ClientDeliveries, str, Retry]]:
        """Pop the live entries due at ``now``: ``(client, event_id, entry)``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            item = heapq.heappop(heap)
            if self._live(item):
                yield self._clients[item[2]], item[3], item[4]

    def _live(self, item: tuple[float, int, str, str, Retry]) -> bool:
        client = self._clients.get(item[2])
        entry = item[4]
        return client is not None and client.later.get(item[3]) is entry and entry.due == item[0]


class Burial:
    """A delivery on its way to ``$dead-letter``."""

    __slots__ = ("client_id", "event_id", "message", "reason", "retries")

    def __init__(
        self, client_id: str, event_id: str, message: Tracked, reason: str, retries: int
    ) -> None:
        self.client_id = client_id
        self.event_id = event_id
        self.message = message
        self.reason = reason
        self.retries = retries


def parked(client: ClientDeliveries) -> list[DeliveryChange]:
    """The store changes that keep ``client``'s pending deliveries while it is away."""
    entries: list[tuple[str, Entry]] = [*client.first.items(), *client.later.items()]
    changes: list[DeliveryChange] = []
    for event_id, entry in entries:
        message, retries = parts(entry)
        changes.append(
            DeliveriesRecorded(
                event_id,
                message.channel,
                message.frame,
                message.recorded_at,
                message.expires,
                entry.due,
                [client.client_id],
            )
        )
        if retries:
            changes.append(DeliveryRescheduled(client.client_id, event_id, retries, entry.due))
    return changes


def parts(entry: Entry) -> tuple[Tracked, int]:
    """The publication and the redelivery count of a pending entry."""
    if isinstance(entry, Retry):
        return entry.message, entry.retries
    return entry, 0


def restored(delivery: PendingDelivery) -> Tracked:
    """A publication read back from the store, for one client."""
    return Tracked(
        delivery.event_id,
        delivery.channel,
        delivery.frame,
        delivery.recorded_at,
        delivery.expires,
        delivery.due,
    )


def in_order(entries: list[tuple[str, Entry]]) -> list[tuple[str, Entry]]:
    """Pending entries of one channel in publication order.

    Offsets order a channel within an epoch exactly; epochs (a channel's
    history started over) follow each other in the order they were first seen.
    """
    first_seen: dict[Any, float] = {}
    for _, entry in entries:
        message = parts(entry)[0]
        epoch = message.frame.get("epoch")
        seen = first_seen.get(epoch)
        if seen is None or message.recorded_at < seen:
            first_seen[epoch] = message.recorded_at

    def key(item: tuple[str, Entry]) -> tuple[float, int, float]:
        message = parts(item[1])[0]
        offset = message.frame.get("offset")
        return (
            first_seen[message.frame.get("epoch")],
            offset if isinstance(offset, int) else 0,
            message.recorded_at,
        )

    return sorted(entries, key=key)


#: A position in a channel's history: ``(offset, epoch)``.
Position = tuple[int, str]


def replays(frame: dict[str, Any], after: Position | None) -> bool:
    """Whether a replay of everything after the position ``after`` carries ``frame``."""
    if after is None:
        return False
    offset = frame.get("offset")
    return frame.get("epoch") == after[1] and isinstance(offset, int) and offset > after[0]
