"""The values users hold: messages, presence entries, publish receipts, run events.

They are plain frozen dataclasses (as the seed's ``ChannelMessage`` is) so
handlers get attribute access (``msg.channel``, ``msg.data``) at no validation
cost on the receive path; ``from_event_dict`` accepts frames from any gateway
that speaks the PraisonAI push protocol, so missing fields get the seed's
defaults. They live in the client layer, not the protocol core, because they
are what the client hands to user code — and they show themselves in notebooks
(:mod:`.display` renders them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from praison_push.protocol import PushError
from praison_push.protocol.runs import TERMINAL_EVENTS, RunEvent, run_event

from . import display

__all__ = [
    "Acknowledger",
    "ChannelMessage",
    "ExecutionEvent",
    "PresenceInfo",
    "PresenceSnapshot",
    "PublishReceipt",
]


class Acknowledger(Protocol):
    """Who acknowledges a message for :meth:`ChannelMessage.ack` (the client it came from)."""

    async def ack(self, message: ChannelMessage | str) -> bool: ...

    async def nack(self, message: ChannelMessage | str, reason: str = "") -> bool: ...


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
        redelivered: ``True`` when the gateway sent this delivery again for want of
            an acknowledgement (``_redelivered`` on the wire).
        retry_count: How many times it was redelivered (``_retry_count``).
    """

    channel: str
    data: Any = None
    event_id: str = ""
    timestamp: float = 0.0
    source: str | None = None
    offset: int | None = None
    epoch: str | None = None
    redelivered: bool = False
    retry_count: int = 0
    _acker: Acknowledger | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_event_dict(
        cls, event: dict[str, Any], acker: Acknowledger | None = None
    ) -> ChannelMessage:
        """Build from a ``channel_message`` frame, tolerating missing fields.

        ``acker`` is the client that :meth:`ack` and :meth:`nack` go through.
        """
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
            retry_count=_count(event.get("_retry_count")),
            _acker=acker,
        )

    async def ack(self) -> bool:
        """Acknowledge this message now, so the gateway stops redelivering it.

        For clients made with ``auto_ack=False``; others acknowledge each
        message once its handlers returned without raising. Returns whether
        the gateway was tracking the delivery (``False`` for a message
        acknowledged already, dead-lettered, or on an untracked channel).

        Raises:
            PushError: The message did not come from a client.
        """
        return await self._acknowledger().ack(self)

    async def nack(self, reason: str = "") -> bool:
        """Give up on this message: the gateway moves it to ``$dead-letter`` now.

        ``reason`` (at most 500 characters) is kept in the dead letter. Returns
        whether the gateway was tracking the delivery.

        Raises:
            PushError: The message did not come from a client.
        """
        return await self._acknowledger().nack(self, reason)

    def _acknowledger(self) -> Acknowledger:
        if self._acker is None:
            raise PushError("this message was not received by a client: nothing to acknowledge")
        return self._acker

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
        return display.message_text(self.channel, self.data)

    def _repr_html_(self) -> str:
        return display.message_html(self.channel, self.event_id, self.data)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


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
        return display.presence_text(self)

    def _repr_html_(self) -> str:
        return display.presence_html(self)


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
        """Build from a ``channel.published`` reply, tolerating missing fields."""
        offset = frame.get("offset")
        return cls(
            channel=str(frame.get("channel", "")),
            event_id=str(frame.get("event_id", "")),
            delivered=int(frame.get("delivered", 0)),
            offset=offset if isinstance(offset, int) else None,
            duplicate=bool(frame.get("duplicate", False)),
        )

    def __str__(self) -> str:
        return display.receipt_text(self.channel, self.delivered, self.event_id)

    def _repr_html_(self) -> str:
        return display.receipt_html(
            self.channel, self.event_id, self.delivered, self.offset, self.duplicate
        )


def _mapping(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class ExecutionEvent:
    """One event of a run, as published on its channel.

    The convenience attributes read the fields PROTOCOL.md §4 defines for each
    kind and are ``None`` where the kind has no such field, so a consumer can
    write ``if event.token is not None`` without checking ``kind`` first.

    Attributes:
        kind: ``execution_start``, ``execution_token``, ``execution_tool``,
            ``execution_tool_call_delta``, ``execution_reasoning``,
            ``execution_approval_request``, ``execution_approval_result``,
            ``execution_complete`` or ``execution_error`` (others are kept
            as they come, for forward compatibility).
        data: The event's fields as published (``event`` included).
        event_id: The publication's id (empty for an event the client made up).
        offset: The publication's position in the run channel's history.
        timestamp: When the gateway published it, seconds since the epoch.
    """

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)
    event_id: str = ""
    offset: int | None = None
    timestamp: float = 0.0

    @classmethod
    def from_message(cls, message: ChannelMessage) -> ExecutionEvent | None:
        """The event a run-channel message carries (``None`` if it carries none)."""
        event = run_event(message.data)
        if event is None:
            return None
        kind, data = event
        return cls(kind, data, message.event_id, message.offset, message.timestamp)

    @property
    def is_terminal(self) -> bool:
        """Whether this event ends the run."""
        return self.kind in TERMINAL_EVENTS

    @property
    def execution_id(self) -> str | None:
        """The run it belongs to."""
        value = self.data.get("execution_id")
        return value if isinstance(value, str) else None

    @property
    def token(self) -> str | None:
        """The streamed text of an ``execution_token``."""
        value = self.data.get("token") if self.kind == RunEvent.TOKEN else None
        return value if isinstance(value, str) else None

    @property
    def index(self) -> int | None:
        """The 0-based position of an ``execution_token`` among the run's token events."""
        value = self.data.get("index") if self.kind == RunEvent.TOKEN else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def count(self) -> int | None:
        """How many agent tokens an ``execution_token`` carries.

        The gateway sends tokens that an agent yields faster than its token
        interval together, as one event; ``count`` says how many (1 when absent).
        """
        if self.kind != RunEvent.TOKEN:
            return None
        value = self.data.get("count", 1)
        return value if isinstance(value, int) and not isinstance(value, bool) else 1

    @property
    def tool_call(self) -> dict[str, Any] | None:
        """The ``tool_call`` of an ``execution_tool`` (``id``, ``name``, ``status`` …)."""
        return _mapping(self.data.get("tool_call")) if self.kind == RunEvent.TOOL else None

    @property
    def reasoning(self) -> str | None:
        """The reasoning text of an ``execution_reasoning``."""
        value = self.data.get("delta") if self.kind == RunEvent.REASONING else None
        return value if isinstance(value, str) else None

    @property
    def tool_call_delta(self) -> dict[str, Any] | None:
        """``{tool_call_id, name?, delta}`` of an ``execution_tool_call_delta``."""
        return self._fields(RunEvent.TOOL_CALL_DELTA)

    @property
    def approval_request(self) -> dict[str, Any] | None:
        """``{tool_call_id, name, arguments, timeout, …}`` of an ``execution_approval_request``."""
        return self._fields(RunEvent.APPROVAL_REQUEST)

    @property
    def approval_result(self) -> dict[str, Any] | None:
        """``{tool_call_id, name, approved, reason?, timed_out?, …}`` of an
        ``execution_approval_result``."""
        return self._fields(RunEvent.APPROVAL_RESULT)

    def _fields(self, kind: RunEvent) -> dict[str, Any] | None:
        return dict(self.data) if self.kind == kind else None

    @property
    def status(self) -> str | None:
        """The run status this event reports (start and terminal events)."""
        value = self.data.get("status")
        return value if isinstance(value, str) else None

    @property
    def output(self) -> str | None:
        """The whole answer, on ``execution_complete``."""
        value = self.data.get("output") if self.kind == RunEvent.COMPLETE else None
        return value if isinstance(value, str) else None

    @property
    def usage(self) -> dict[str, Any] | None:
        """Token counts, on ``execution_complete``."""
        return _mapping(self.data.get("usage")) if self.kind == RunEvent.COMPLETE else None

    @property
    def error(self) -> dict[str, Any] | None:
        """``{code, message, details?}``, on ``execution_error``."""
        return _mapping(self.data.get("error")) if self.kind == RunEvent.ERROR else None

    def to_dict(self) -> dict[str, Any]:
        """The event's fields as published, e.g. for one JSON line per event."""
        return {"event": self.kind, **self.data}

    def __str__(self) -> str:
        return display.event_text(
            self.kind,
            self.status,
            token=self.token,
            index=self.index,
            tool_call=self.tool_call,
            error=self.error,
            output=self.output,
            complete=self.kind == RunEvent.COMPLETE,
        )
