"""Presence: who is on a channel, and telling co-subscribers when that changes.

Entries and ``presence_join`` / ``presence_update`` / ``presence_leave`` frames
follow PROTOCOL.md §2. One entry per client: a client with several
connections is listed once, with its most recently active connection.

Announcing every change to every co-subscriber costs N²/2 frames when N
clients join one channel (5,000 joins: 12.5 million frames). So changes are
broadcast at scale the way PROTOCOL.md §8 ("Presence at scale") says:

* each channel may send ``max_broadcast_members`` presence frames per
  ``broadcast_interval`` as single-event frames, at once (as PraisonAI sends
  them: a quiet or small channel sees every change as it happens); changes past
  that budget wait for the end of the interval and go out together as one
  ``presence_diff`` (or as the single-event frame when there is only one), so a
  busy channel gets at most one batch per interval;
* not at all on a channel with more than ``max_broadcast_members`` members, on
  a channel matching a ``no_broadcast_channels`` pattern, or on run channels.
"""

from __future__ import annotations

import asyncio
import fnmatch
import heapq
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..config import PresenceConfig
from ..protocol import encode_json
from ..protocol.presence import PRESENCE_DIFF
from .channels import Channel, ChannelRegistry, PresenceChange
from .connection import Connection
from .ids import IdFactory
from .scopes import display_name, is_run_name

__all__ = ["Presence", "take_page"]

logger = logging.getLogger("praison_push.hub")

_JOIN, _LEAVE = "presence_join", "presence_leave"

#: Shortest wait before looking at due batches again (a timer that fired a hair
#: early by the hub's clock must not spin).
_MIN_DELAY = 0.005


class Presence:
    """Builds presence entries and announces changes to co-subscribers.

    Args:
        config: Whether presence is on, and how changes are broadcast.
        channels: The node's channels (to reach a connection's co-subscribers).
        ids: Event ids for the announcements.
        clock: Wall-clock time for their timestamps and the broadcast interval.
    """

    def __init__(
        self,
        config: PresenceConfig,
        channels: ChannelRegistry,
        ids: IdFactory,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._channels = channels
        self._ids = ids
        self._clock = clock
        self._interval = float(config.broadcast_interval)
        #: Presence frames a channel may send at once per interval: one broadcast
        #: to a channel at the member bound.
        self._budget = config.max_broadcast_members
        self._patterns = tuple(config.no_broadcast_channels)
        #: Channels holding a batch, oldest first (a dict as an ordered set).
        self._waiting: dict[Channel, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0  # loop time
        #: Clients whose presence changed, kept only for whoever syncs presence with
        #: other gateways (:class:`~.presence_sync.PresenceSync` sets it; ``None``: nobody).
        self.changed: set[str] | None = None
        #: Called with ``(channel, kind, data)`` for every change other gateways must hear.
        self.relay: Callable[[str, str, dict[str, Any]], None] | None = None

    @staticmethod
    def status(connection: Connection, kind: str = "") -> str:
        """The status shown for ``connection`` (``offline`` once stale or leaving)."""
        return "offline" if kind == _LEAVE or connection.stale else connection.status

    def entry(self, connection: Connection) -> dict[str, Any]:
        """``PresenceInfo`` of a connection (PROTOCOL.md §2)."""
        return {
            "client_id": connection.client_id,
            "user_id": connection.principal.user_id,
            "status": self.status(connection),
            "last_seen": connection.last_seen,
            "metadata": connection.metadata,
            "channels": sorted(display_name(name) for name in connection.subscriptions),
        }

    @staticmethod
    def latest(connections: Iterable[Connection]) -> dict[str, Connection]:
        """Each client's most recently seen connection among ``connections``."""
        found: dict[str, Connection] = {}
        for connection in connections:
            current = found.get(connection.client_id)
            if current is None or connection.last_seen > current.last_seen:
                found[connection.client_id] = connection
        return found

    def entries(self, connections: Iterable[Connection]) -> list[dict[str, Any]]:
        """One entry per client among ``connections`` (its most recently seen connection)."""
        return [self.entry(connection) for connection in self.latest(connections).values()]

    def page(
        self,
        connections: Iterable[Connection],
        *,
        limit: int,
        cursor: str | None,
        max_bytes: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of entries in ``client_id`` order, and the next page's cursor.

        A page starts after the ``cursor`` client id and holds at most ``limit``
        entries and ``max_bytes`` of encoded entries (always at least one), so a
        26-byte query cannot be answered with megabytes. Only the page's entries
        are built. ``None``: the last page.
        """
        latest = self.latest(connections)
        return take_page(
            latest,
            lambda client_id: self.entry(latest[client_id]),
            limit=limit,
            cursor=cursor,
            max_bytes=max_bytes,
        )

    # --- broadcasting changes ---------------------------------------------------

    def broadcasts(self, channel: Channel) -> bool:
        """Whether changes on ``channel`` are announced to its subscribers right now."""
        config = self._config
        if not (config.enabled and config.broadcast_changes):
            return False
        events = channel.presence_events
        if events is None:
            events = channel.presence_events = self._events_on(channel.name)
        return events and len(channel.members) <= config.max_broadcast_members

    def _events_on(self, name: str) -> bool:
        """Whether a channel's kind allows presence events at all (worked out once per channel)."""
        if is_run_name(name):
            return False  # run channels and run feeds carry run events only
        shown = display_name(name)
        return not any(fnmatch.fnmatchcase(shown, pattern) for pattern in self._patterns)

    def announce(self, channel: Channel, kind: str, connection: Connection) -> None:
        """Tell ``channel``'s other subscribers that ``connection``'s client joined/left/changed.

        Sent at once while the channel's presence frames of this interval stay
        within the budget; otherwise kept for the batch that goes out at the end
        of the interval. With a :attr:`relay` (gateways sharing presence) the
        change also goes to the other gateways, whose subscribers it reaches
        through :meth:`announce_data`.
        """
        self.touch(connection.client_id)
        relay = self.relay
        if relay is None and not self.broadcasts(channel):
            return
        data = {
            "client_id": connection.client_id,
            "status": self.status(connection, kind),
            "metadata": connection.metadata,
        }
        if relay is not None and self.relays(channel):
            relay(channel.name, kind, data)
        self.announce_data(channel, kind, data)

    def touch(self, client_id: str) -> None:
        """Note that ``client_id``'s presence entry changed (when presence is synced)."""
        changed = self.changed
        if changed is not None:
            changed.add(client_id)

    def relays(self, channel: Channel) -> bool:
        """Whether changes on ``channel`` are told to other gateways (their members count there)."""
        config = self._config
        if not (config.enabled and config.broadcast_changes):
            return False
        events = channel.presence_events
        if events is None:
            events = channel.presence_events = self._events_on(channel.name)
        return events

    def announce_data(self, channel: Channel, kind: str, data: dict[str, Any]) -> None:
        """Announce a change (``client_id``, ``status``, ``metadata``) on ``channel``, as
        :meth:`announce` does; changes from other gateways come in here."""
        if not self.broadcasts(channel):
            return
        now = self._clock()
        batch = channel.presence_batch
        if batch is None:
            if now - channel.presence_window >= self._interval:
                channel.presence_window, channel.presence_frames = now, 0
            audience = len(channel.subscribers) - 1  # about the others' connections
            if channel.presence_frames + audience <= self._budget:
                channel.presence_frames += self._send_one(channel, kind, data, now)
                return
            batch = channel.presence_batch = {}
            self._waiting[channel] = None
            self._arm(channel.presence_window + self._interval - now)
        change = batch.get(data["client_id"])
        if change is None:
            batch[data["client_id"]] = PresenceChange(kind, kind, data)
        else:
            change.last = kind
            change.data = data

    def announce_everywhere(self, connection: Connection, kind: str) -> None:
        """Announce a change of ``connection`` on every channel it is subscribed to."""
        self.touch(connection.client_id)  # its entry changed, channels or not
        for name in connection.subscriptions:
            channel = self._channels.get(name)
            if channel is not None:
                self.announce(channel, kind, connection)

    def flush_due(self, now: float | None = None) -> None:
        """Send every batch whose interval has ended (the timer and the upkeep call this)."""
        now = self._clock() if now is None else now
        for channel in list(self._waiting):
            if now - channel.presence_window >= self._interval:
                self._send_batch(channel, now)

    def flush(self) -> None:
        """Send every waiting batch now, interval or not (tests; shutting down)."""
        now = self._clock()
        for channel in list(self._waiting):
            self._send_batch(channel, now)

    @property
    def waiting(self) -> int:
        """Channels with a batch of changes waiting for the end of their interval."""
        return len(self._waiting)

    def close(self) -> None:
        """Stop the timer and drop waiting batches (the node is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for channel in self._waiting:
            channel.presence_batch = None
        self._waiting.clear()

    def _arm(self, delay: float) -> None:
        """Make sure a timer fires within ``delay`` seconds to send due batches."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): nothing can wait
            self.flush()
            return
        due = loop.time() + max(_MIN_DELAY, delay)
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()  # this batch is due sooner than the timer
        self._timer = loop.call_at(due, self._on_timer)
        self._timer_due = due

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.flush_due()
        except Exception:
            logger.exception("presence broadcast failed")
        if self._waiting:
            now = self._clock()
            due = min(channel.presence_window for channel in self._waiting) + self._interval
            self._arm(due - now)

    def _send_batch(self, channel: Channel, now: float) -> None:
        """Send ``channel``'s batch: one frame, whatever the number of changes."""
        batch, channel.presence_batch = channel.presence_batch, None
        self._waiting.pop(channel, None)
        if not batch or self._channels.get(channel.name) is not channel:
            return  # the channel went away meanwhile
        if not self.broadcasts(channel):
            return  # grew past max_broadcast_members meanwhile
        # A new interval starts with this batch's frames spent from its budget, so a
        # busy channel's next changes wait for the next batch.
        channel.presence_window = now
        if len(batch) == 1:
            (change,) = batch.values()
            channel.presence_frames = self._send_one(channel, _net_kind(change), change.data, now)
            return
        joins: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        leaves: list[dict[str, Any]] = []
        lists = {_JOIN: joins, _LEAVE: leaves}
        for change in batch.values():
            lists.get(_net_kind(change), updates).append(change.data)
        frame = {
            "type": PRESENCE_DIFF,
            "channel": display_name(channel.name),
            "data": {"joins": joins, "updates": updates, "leaves": leaves},
            "event_id": self._ids.next(),
            "timestamp": now,
        }
        # One frame for everyone, the clients it lists included (PROTOCOL.md §8).
        channel.presence_frames = channel.fan_out(frame, None)

    def _send_one(self, channel: Channel, kind: str, data: dict[str, Any], now: float) -> int:
        """Send one change as its single-event frame to all but its client; how many got it."""
        frame = {
            "type": kind,
            "channel": display_name(channel.name),
            "data": data,
            "event_id": self._ids.next(),
            "timestamp": now,
        }
        return channel.fan_out(frame, data["client_id"])


def _net_kind(change: PresenceChange) -> str:
    """What a client's changes within one interval amount to.

    Gone at the end: a leave (even after a join in the same interval — a
    client that saw the join through ``presence.query`` must see it go). There
    at the end but not at the start: a join. There at both: an update.
    """
    if change.last == _LEAVE:
        return _LEAVE
    return _JOIN if change.first == _JOIN else "presence_update"


def take_page(
    client_ids: Iterable[str],
    entry_of: Callable[[str], dict[str, Any]],
    *,
    limit: int,
    cursor: str | None,
    max_bytes: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of presence entries in ``client_id`` order, and the next page's cursor.

    The page starts after the ``cursor`` client id and holds at most ``limit``
    entries and ``max_bytes`` of encoded entries (always at least one); only its
    entries are built (``entry_of``). ``None``: the last page.
    """
    after = client_ids if cursor is None else (cid for cid in client_ids if cid > cursor)
    ids = heapq.nsmallest(limit + 1, after)
    page: list[dict[str, Any]] = []
    size = 0
    for client_id in ids[:limit]:
        entry = entry_of(client_id)
        size += len(encode_json(entry)) + 1
        if page and size > max_bytes:
            break
        page.append(entry)
    more = len(page) < len(ids)
    return page, (str(page[-1]["client_id"]) if more and page else None)
