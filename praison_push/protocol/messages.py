"""The values users hold: messages, presence entries, publish receipts.

They are plain dataclasses (as the seed's ``ChannelMessage`` is) so handlers get
attribute access (``msg.channel``, ``msg.data``) at no validation cost on the
receive path; ``from_event_dict`` accepts frames from any gateway that speaks
the PraisonAI push protocol, so missing fields get the seed's defaults.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from .codec import encode_json

__all__ = ["ChannelMessage", "PresenceInfo", "PresenceSnapshot", "PublishReceipt"]


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else encode_json(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ChannelMessage:
    """One publication as a subscriber sees it (PROTOCOL.md §2 ``channel_message``).

    Attributes:
        channel: The channel it was published on.
        data: The payload, any JSON value.
        event_id: Unique id; clients de-duplicate redeliveries by it.
        timestamp: Publication time, seconds since the epoch.
        source: The publisher's ``client_id`` (``None`` for the gateway).
        offset: Position in the channel's history (``None`` from gateways without history).
        epoch: The history epoch ``offset`` belongs to.
        redelivered: ``True`` when the gateway retried this delivery.
    """

    channel: str
    data: Any = None
    event_id: str = ""
    timestamp: float = 0.0
    source: str | None = None
    offset: int | None = None
    epoch: str | None = None
    redelivered: bool = False

    @classmethod
    def from_event_dict(cls, event: dict[str, Any]) -> ChannelMessage:
        """Build from a ``channel_message`` frame, tolerating missing fields."""
        timestamp = event.get("timestamp")
        offset = event.get("offset")
        return cls(
            channel=str(event.get("channel", "")),
            data=event.get("data"),
            event_id=str(event.get("event_id", "")),
            timestamp=float(timestamp) if isinstance(timestamp, (int, float)) else 0.0,
            source=event.get("source"),
            offset=offset if isinstance(offset, int) else None,
            epoch=event.get("epoch"),
            redelivered=bool(event.get("_redelivered", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The seed's dict form (channel, data, event_id, timestamp, source) plus offset."""
        return {
            "channel": self.channel,
            "data": self.data,
            "event_id": self.event_id,
            "timestamp": self.timestamp,
            "source": self.source,
            "offset": self.offset,
            "epoch": self.epoch,
        }

    def __str__(self) -> str:
        return f"[{self.channel}] {_short(self.data)}"

    def _repr_html_(self) -> str:
        return (
            f"<code>{html.escape(self.channel)}</code> "
            f"<span title='event {html.escape(self.event_id)}'>"
            f"{html.escape(_short(self.data, 400))}</span>"
        )


@dataclass(frozen=True)
class PresenceInfo:
    """Who is connected, with what status (PROTOCOL.md §2 ``PresenceInfo``)."""

    client_id: str
    status: str = "online"
    last_seen: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    channels: tuple[str, ...] = ()
    user_id: str | None = None

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> PresenceInfo:
        """Build from one entry of a ``presence.list`` frame."""
        last_seen = entry.get("last_seen")
        metadata = entry.get("metadata")
        channels = entry.get("channels")
        return cls(
            client_id=str(entry.get("client_id", "")),
            status=str(entry.get("status", "online")),
            last_seen=float(last_seen) if isinstance(last_seen, (int, float)) else 0.0,
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
            channels=tuple(channels) if isinstance(channels, list) else (),
            user_id=entry.get("user_id"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The wire form of ``PresenceInfo``."""
        return {
            "client_id": self.client_id,
            "user_id": self.user_id,
            "status": self.status,
            "last_seen": self.last_seen,
            "metadata": dict(self.metadata),
            "channels": list(self.channels),
        }

    def __getitem__(self, key: str) -> Any:
        # The seed's examples index presence entries like dicts (user['status']).
        return self.to_dict()[key]


class PresenceSnapshot(list[PresenceInfo]):
    """The answer to a presence query: a plain list, shown as a table in notebooks."""

    def __str__(self) -> str:
        if not self:
            return "nobody present"
        return "\n".join(
            f"{entry.client_id:<24} {entry.status:<10} {_short(entry.metadata, 60)}"
            for entry in self
        )

    def _repr_html_(self) -> str:
        if not self:
            return "<i>nobody present</i>"
        rows = "".join(
            "<tr>"
            f"<td><code>{html.escape(entry.client_id)}</code></td>"
            f"<td>{html.escape(entry.status)}</td>"
            f"<td>{html.escape(_short(entry.metadata, 120))}</td>"
            f"<td>{html.escape(', '.join(entry.channels))}</td>"
            "</tr>"
            for entry in self
        )
        return (
            "<table><thead><tr><th>client</th><th>status</th><th>metadata</th>"
            f"<th>channels</th></tr></thead><tbody>{rows}</tbody></table>"
        )


@dataclass(frozen=True)
class PublishReceipt:
    """The gateway's answer to a publish (``channel.published``)."""

    channel: str
    event_id: str
    delivered: int
    offset: int | None = None
    duplicate: bool = False

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> PublishReceipt:
        offset = frame.get("offset")
        return cls(
            channel=str(frame.get("channel", "")),
            event_id=str(frame.get("event_id", "")),
            delivered=int(frame.get("delivered", 0)),
            offset=offset if isinstance(offset, int) else None,
            duplicate=bool(frame.get("duplicate", False)),
        )

    def __str__(self) -> str:
        return f"published to {self.channel}: delivered to {self.delivered} (event {self.event_id})"

    def _repr_html_(self) -> str:
        note = " (duplicate: already published)" if self.duplicate else ""
        offset = "" if self.offset is None else f" · offset {self.offset}"
        return (
            f"✓ published to <code>{html.escape(self.channel)}</code> · delivered to "
            f"<b>{self.delivered}</b>{offset}{html.escape(note)} · "
            f"<small>event {html.escape(self.event_id)}</small>"
        )
