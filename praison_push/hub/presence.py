"""Presence: who is on a channel, and telling co-subscribers when that changes.

Entries and ``presence_join`` / ``presence_update`` / ``presence_leave`` frames
follow PROTOCOL.md §2. One entry per client: a client with several
connections is listed once, with its most recently active connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..config import PresenceConfig
from .channels import Channel, ChannelRegistry
from .connection import Connection
from .ids import IdFactory
from .scopes import display_name, is_run_name

__all__ = ["Presence"]


class Presence:
    """Builds presence entries and announces changes to co-subscribers.

    Args:
        config: Whether presence is on and whether changes are broadcast.
        channels: The node's channels (to reach a connection's co-subscribers).
        ids: Event ids for the announcements.
        clock: Wall-clock time for their timestamps.
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

    @staticmethod
    def status(connection: Connection, kind: str = "") -> str:
        """The status shown for ``connection`` (``offline`` once stale or leaving)."""
        return "offline" if kind == "presence_leave" or connection.stale else connection.status

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

    def entries(self, connections: Iterable[Connection]) -> list[dict[str, Any]]:
        """One entry per client among ``connections`` (its most recently seen connection)."""
        found: dict[str, Connection] = {}
        for connection in connections:
            current = found.get(connection.client_id)
            if current is None or connection.last_seen > current.last_seen:
                found[connection.client_id] = connection
        return [self.entry(connection) for connection in found.values()]

    def announce(self, channel: Channel, kind: str, connection: Connection) -> None:
        """Tell ``channel``'s other subscribers that ``connection``'s client joined/left/changed."""
        config = self._config
        if not (config.enabled and config.broadcast_changes):
            return
        if is_run_name(channel.name):
            return  # run channels and run feeds carry run events only
        frame = {
            "type": kind,
            "channel": display_name(channel.name),
            "data": {
                "client_id": connection.client_id,
                "status": self.status(connection, kind),
                "metadata": connection.metadata,
            },
            "event_id": self._ids.next(),
            "timestamp": self._clock(),
        }
        channel.fan_out(frame, connection.client_id)

    def announce_everywhere(self, connection: Connection, kind: str) -> None:
        """Announce a change of ``connection`` on every channel it is subscribed to."""
        for name in connection.subscriptions:
            channel = self._channels.get(name)
            if channel is not None:
                self.announce(channel, kind, connection)
