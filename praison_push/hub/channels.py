"""Channels and the local fan-out: encode once, enqueue to every subscriber.

The fan-out is the gateway's hot path. A publication is encoded to text once
(per dialect, when more dialects subscribe) and the same string object is
appended to each subscriber's outbox; nothing on this path awaits, so a publish
costs one ``list.append`` per subscriber (DESIGN.md, Fan-out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..protocol import encode_json
from ..protocol.frames import Filters
from .session import Session

__all__ = ["Channel", "ChannelRegistry", "matches_filters"]


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


@dataclass(eq=False)
class Channel:
    """A named channel and who listens to it on this node.

    Attributes:
        subscribers: Session → its filters (``None``: everything).
        members: ``client_id`` → number of its sessions subscribed, so presence
            joins and leaves are announced once per client, not per connection.
    """

    name: str
    created_at: float
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Made by ``channel.create``: kept while empty (others go with their last subscriber).
    explicit: bool = False
    subscribers: dict[Session, Filters | None] = field(default_factory=dict)
    members: Counter[str] = field(default_factory=Counter)

    def fan_out(
        self,
        frame: dict[str, Any],
        source: str | None,
        skip: Callable[[Session], bool] | None = None,
    ) -> int:
        """Queue ``frame`` to every subscriber but the publisher's; return how many.

        Native connections share one encoded string; other dialects get theirs
        encoded once per dialect. ``skip`` leaves out sessions it returns true for.
        """
        subscribers = self.subscribers
        if not subscribers:
            return 0
        native: str | None = None
        foreign: dict[str, tuple[str, ...]] = {}
        data = frame.get("data")
        delivered = 0
        for session, filters in subscribers.items():
            if session.client_id == source:
                continue
            if filters is not None and not matches_filters(filters, data):
                continue
            if skip is not None and skip(session):
                continue
            if session.dialect == "praison":
                if native is None:
                    native = encode_json(frame)
                queued = session.send_text(native)
            else:
                texts = foreign.get(session.dialect)
                if texts is None:
                    texts = foreign[session.dialect] = session.encode(frame)
                queued = all([session.send_text(text) for text in texts])
            if queued:
                delivered += 1
        return delivered


class ChannelRegistry:
    """Every channel this node knows, by name."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

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
            channel = Channel(name, now, dict(metadata or {}))
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

    def subscribe(self, channel: Channel, session: Session, filters: Filters | None) -> bool:
        """Add ``session``; ``True`` when its client is new to the channel."""
        if session in channel.subscribers:
            # A repeated subscribe replaces the filters on both sides, so the
            # session's record (what a resubscribe would send) matches the fan-out.
            channel.subscribers[session] = filters
            session.subscriptions[channel.name] = filters
            return False
        channel.subscribers[session] = filters
        session.subscriptions[channel.name] = filters
        channel.members[session.client_id] += 1
        return channel.members[session.client_id] == 1

    def unsubscribe(self, channel: Channel, session: Session) -> bool:
        """Remove ``session``; ``True`` when its client has left the channel."""
        if channel.subscribers.pop(session, _MISSING) is _MISSING:
            return False
        session.subscriptions.pop(channel.name, None)
        members = channel.members
        members[session.client_id] -= 1
        if members[session.client_id] <= 0:
            del members[session.client_id]
            return True
        return False


_MISSING: Any = object()
