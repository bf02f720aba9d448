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
from .ids import IdFactory
from .scopes import display_name
from .session import Session

__all__ = ["Presence"]

#: Run channels and run feeds carry run events only, never presence.
_RUN_CHANNELS = "executions"


class Presence:
    """Builds presence entries and announces changes to co-subscribers.

    Args:
        config: Whether presence is on and whether changes are broadcast.
        channels: The node's channels (to reach a session's co-subscribers).
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
    def status(session: Session, kind: str = "") -> str:
        """The status shown for ``session`` (``offline`` once stale or leaving)."""
        return "offline" if kind == "presence_leave" or session.stale else session.status

    def entry(self, session: Session) -> dict[str, Any]:
        """``PresenceInfo`` of a session (PROTOCOL.md §2)."""
        return {
            "client_id": session.client_id,
            "user_id": session.principal.user_id,
            "status": self.status(session),
            "last_seen": session.last_seen,
            "metadata": session.metadata,
            "channels": sorted(display_name(name) for name in session.subscriptions),
        }

    def entries(self, sessions: Iterable[Session]) -> list[dict[str, Any]]:
        """One entry per client among ``sessions`` (its most recently seen connection)."""
        found: dict[str, Session] = {}
        for session in sessions:
            current = found.get(session.client_id)
            if current is None or session.last_seen > current.last_seen:
                found[session.client_id] = session
        return [self.entry(session) for session in found.values()]

    def announce(self, channel: Channel, kind: str, session: Session) -> None:
        """Tell ``channel``'s other subscribers that ``session``'s client joined/left/changed."""
        config = self._config
        if not (config.enabled and config.broadcast_changes):
            return
        if channel.name.startswith(_RUN_CHANNELS):
            return
        frame = {
            "type": kind,
            "channel": display_name(channel.name),
            "data": {
                "client_id": session.client_id,
                "status": self.status(session, kind),
                "metadata": session.metadata,
            },
            "event_id": self._ids.next(),
            "timestamp": self._clock(),
        }
        channel.fan_out(frame, session.client_id)

    def announce_everywhere(self, session: Session, kind: str) -> None:
        """Announce a change of ``session`` on every channel it is subscribed to."""
        for name in session.subscriptions:
            channel = self._channels.get(name)
            if channel is not None:
                self.announce(channel, kind, session)
