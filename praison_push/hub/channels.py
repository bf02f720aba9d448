"""Channels and the local fan-out: encode once, enqueue to every subscriber.

The fan-out is the gateway's hot path. A publication is encoded to text once
(per dialect, when more dialects subscribe) and the same string object is
appended to each subscriber's outbox; nothing on this path awaits, so a publish
costs one ``list.append`` per subscriber (docs/ARCHITECTURE.md, "Hot path: a publication").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ..protocol import encode_json
from ..protocol.frames import Filters
from .connection import Connection
from .metrics import HubMetrics
from .scopes import display_name

__all__ = ["Channel", "ChannelRegistry", "PresenceChange", "drop_policy", "matches_filters"]


def matches_filters(filters: Filters, data: Any) -> bool:
    """Whether a publication's ``data`` passes a subscriber's filters.

    A string must equal the field; a list must contain it.
    """
    if not isinstance(data, dict):
        return False
    for key, wanted in filters.items():
        value = str(data.get(key))
        if value != wanted if isinstance(wanted, str) else value not in wanted:
            return False
    return True


def drop_policy(policies: Mapping[str, str]) -> Callable[[str], bool] | None:
    """Whether a channel (internal name) has the ``drop`` slow-consumer policy, from
    ``LimitsConfig.slow_consumer_policies`` (``None``: every channel disconnects)."""
    if not any(policy == "drop" for policy in policies.values()):
        return None
    rules = list(policies.items())

    def drops(name: str) -> bool:
        shown = display_name(name)
        for pattern, policy in rules:
            if fnmatchcase(shown, pattern):
                return policy == "drop"
        return False

    return drops


@dataclass(eq=False)
class PresenceChange:
    """One client's presence changes on a channel within one broadcast interval.

    ``first`` and ``last`` are the kinds (``presence_join``/``_update``/``_leave``)
    of its first and latest change; ``data`` is the latest ``{client_id, status,
    metadata}``. Together they say whether the client came, went or changed.
    """

    first: str
    last: str
    data: dict[str, Any]


@dataclass(eq=False)
class Channel:
    """A named channel and who listens to it on this node.

    Attributes:
        subscribers: Connection → its filters (``None``: everything).
        members: ``client_id`` → number of its connections subscribed, so presence
            joins and leaves are announced once per client, not per connection.
    """

    name: str
    created_at: float
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Made by ``channel.create``: kept while empty (others go with their last subscriber).
    explicit: bool = False
    subscribers: dict[Connection, Filters | None] = field(default_factory=dict)
    members: Counter[str] = field(default_factory=Counter)
    #: Presence bookkeeping (:class:`~.presence.Presence`): whether the channel's
    #: changes may be broadcast at all (worked out once), when its current broadcast
    #: interval began (hub clock), the presence frames sent in that interval, and the
    #: changes waiting for its end.
    presence_events: bool | None = None
    presence_window: float = float("-inf")
    presence_frames: int = 0
    presence_batch: dict[str, PresenceChange] | None = None
    #: The node's counters (publications dropped at the fan-out are counted there).
    metrics: HubMetrics | None = None
    #: The ``drop`` slow-consumer policy: a full subscriber misses publications
    #: (then gets a ``channel_gap`` notice) instead of being disconnected.
    drops: bool = False

    def fan_out(
        self,
        frame: dict[str, Any],
        source: str | None,
        skip: Callable[[Connection], bool] | None = None,
    ) -> int:
        """Queue ``frame`` to every subscriber but the publisher's; return how many.

        Native connections share one encoded string; other dialects get theirs
        encoded once per dialect. ``skip`` leaves out connections it returns true for.
        """
        subscribers = self.subscribers
        if not subscribers:
            return 0
        if self.drops:
            return self._fan_out_dropping(frame, source, skip)
        native: str | None = None
        foreign: dict[str, tuple[str, ...]] = {}
        data = frame.get("data")
        delivered = 0
        for connection, filters in subscribers.items():
            if connection.client_id == source:
                continue
            if filters is not None and not matches_filters(filters, data):
                continue
            if skip is not None and skip(connection):
                continue
            if connection.dialect == "praison":
                if native is None:
                    native = encode_json(frame)
                queued = connection.send_text(native)
            else:
                texts = foreign.get(connection.dialect)
                if texts is None:
                    texts = foreign[connection.dialect] = connection.encode(frame)
                queued = all([connection.send_text(text) for text in texts])
            if queued:
                delivered += 1
            elif self.metrics is not None:
                self.metrics.drops += 1
        return delivered

    def _fan_out_dropping(
        self,
        frame: dict[str, Any],
        source: str | None,
        skip: Callable[[Connection], bool] | None,
    ) -> int:
        """:meth:`fan_out` under the ``drop`` policy: what does not fit is dropped for
        that subscriber, and its next publication that fits comes after a
        ``channel_gap`` notice naming the last one dropped (never a silent gap)."""
        native: str | None = None
        data = frame.get("data")
        delivered = 0
        for connection, filters in self.subscribers.items():
            if connection.client_id == source:
                continue
            if filters is not None and not matches_filters(filters, data):
                continue
            if skip is not None and skip(connection):
                continue
            gaps = connection.gaps
            gap = None if gaps is None else gaps.get(self.name)
            if gap is None or _offer_all(connection, _gap_texts(connection, frame, gap)):
                if gap is not None and gaps is not None:
                    del gaps[self.name]  # the notice is out
                if connection.dialect == "praison":
                    if native is None:
                        native = encode_json(frame)
                    texts: tuple[str, ...] = (native,)
                else:
                    texts = connection.encode(frame)
                if _offer_all(connection, texts):
                    delivered += 1
                    continue
            # Dropped for this subscriber (or its earlier gap's notice does not fit yet).
            if self.metrics is not None:
                self.metrics.drops += 1
            offset, epoch = frame.get("offset"), frame.get("epoch")
            if isinstance(offset, int) and isinstance(epoch, str):
                if connection.gaps is None:
                    connection.gaps = {}
                connection.gaps[self.name] = (epoch, offset)
        return delivered


def _gap_texts(
    connection: Connection, frame: dict[str, Any], gap: tuple[str, int]
) -> tuple[str, ...]:
    """The ``channel_gap`` notice of publications dropped up to ``gap`` (PROTOCOL.md §3),
    in the connection's dialect."""
    notice = {
        "type": "channel_gap",
        "channel": frame.get("channel"),
        "epoch": gap[0],
        "offset": gap[1],
        "reason": "slow_consumer",
    }
    return (encode_json(notice),) if connection.dialect == "praison" else connection.encode(notice)


def _offer_all(connection: Connection, texts: tuple[str, ...]) -> bool:
    """Offer every text (one frame may take several in a foreign dialect); whether all fit."""
    return all([connection.offer_text(text) for text in texts])


class ChannelRegistry:
    """Every channel this node knows, by name.

    Args:
        metrics: The node's counters (publications dropped at the fan-out).
        drops: Whether a channel (by the name clients use) has the ``drop``
            slow-consumer policy; decided once, when the channel is created.
    """

    def __init__(
        self, metrics: HubMetrics | None = None, drops: Callable[[str], bool] | None = None
    ) -> None:
        self._channels: dict[str, Channel] = {}
        self._metrics = metrics
        self._drops = drops

    def use_policies(self, policies: Mapping[str, str]) -> None:
        """Decide the channels' slow-consumer policy from ``slow_consumer_policies``."""
        self._drops = drop_policy(policies)

    def __len__(self) -> int:
        return len(self._channels)

    def __contains__(self, name: object) -> bool:
        return name in self._channels

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def create(self, name: str, now: float, metadata: dict[str, Any] | None = None) -> Channel:
        """Return the channel, creating it if needed (metadata merges in)."""
        channel = self._channels.get(name)
        if channel is None:
            channel = Channel(name, now, dict(metadata or {}), metrics=self._metrics)
            if self._drops is not None:
                channel.drops = self._drops(name)
            self._channels[name] = channel
        elif metadata:
            channel.metadata.update(metadata)
        return channel

    def discard_if_unused(self, channel: Channel) -> None:
        """Forget a channel nobody listens to, unless it was created explicitly.

        Channels made by a subscribe or a publish would otherwise pile up with
        every name a client ever used (``max_channels`` counts them); their
        history lives on in the history store.
        """
        unused = not channel.subscribers and not channel.explicit
        if unused and self._channels.get(channel.name) is channel:
            del self._channels[channel.name]

    def names(self) -> list[str]:
        return sorted(self._channels)

    def subscribe(self, channel: Channel, connection: Connection, filters: Filters | None) -> bool:
        """Add ``connection``; ``True`` when its client is new to the channel."""
        if connection in channel.subscribers:
            # A repeated subscribe replaces the filters on both sides, so the
            # connection's record (what a resubscribe would send) matches the fan-out.
            channel.subscribers[connection] = filters
            connection.subscriptions[channel.name] = filters
            return False
        channel.subscribers[connection] = filters
        connection.subscriptions[channel.name] = filters
        channel.members[connection.client_id] += 1
        return channel.members[connection.client_id] == 1

    def unsubscribe(self, channel: Channel, connection: Connection) -> bool:
        """Remove ``connection``; ``True`` when its client has left the channel."""
        if channel.subscribers.pop(connection, _MISSING) is _MISSING:
            return False
        connection.subscriptions.pop(channel.name, None)
        members = channel.members
        members[connection.client_id] -= 1
        if members[connection.client_id] <= 0:
            del members[connection.client_id]
            return True
        return False


_MISSING: Any = object()
