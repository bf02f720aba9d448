"""Pydantic models of every native-dialect frame (PROTOCOL.md §2, §6).

Client frames are validated strictly (a string is never coerced from a number)
and unknown fields are ignored, as the contract says. Server frames are models
too, so the contract is written down once; the gateway's publication hot path
builds the same dict by hand (``Hub.publish``) and a test checks it
against :class:`ChannelMessageFrame`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StringConstraints

__all__ = [
    "CHANNEL_NAME_PATTERN",
    "CLIENT_FRAME_TYPES",
    "MAX_CHANNEL_NAME_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_REF_LENGTH",
    "AckReceivedFrame",
    "AuthFrame",
    "AuthRefreshFrame",
    "ChannelCreateFrame",
    "ChannelCreatedFrame",
    "ChannelGapFrame",
    "ChannelHistoryFrame",
    "ChannelHistoryReplyFrame",
    "ChannelListFrame",
    "ChannelListReplyFrame",
    "ChannelMessageFrame",
    "ChannelName",
    "ChannelPublishFrame",
    "ChannelPublishedFrame",
    "ChannelSubscribeFrame",
    "ChannelSubscribedFrame",
    "ChannelUnsubscribeFrame",
    "ChannelUnsubscribedFrame",
    "ClientFrame",
    "ConnectedFrame",
    "ErrorFrame",
    "ExecuteAcceptedFrame",
    "ExecuteFrame",
    "ExecutionApproveFrame",
    "ExecutionApprovedFrame",
    "ExecutionCancelFrame",
    "ExecutionCancelledFrame",
    "Filters",
    "HelloErrorFrame",
    "MessageAckFrame",
    "MessageNackFrame",
    "NackReceivedFrame",
    "PingFrame",
    "PongFrame",
    "PresenceChangeModel",
    "PresenceDiffData",
    "PresenceDiffFrame",
    "PresenceEventFrame",
    "PresenceHeartbeatAckFrame",
    "PresenceHeartbeatFrame",
    "PresenceInfoModel",
    "PresenceListFrame",
    "PresenceQueryFrame",
    "Ref",
    "SinceModel",
]

#: Channel names: 1–200 chars of ``[A-Za-z0-9_.:@#/-]``; a leading ``$`` marks a
#: gateway-reserved channel such as ``$dead-letter`` (PROTOCOL.md §2).
MAX_CHANNEL_NAME_LENGTH = 200
CHANNEL_NAME_PATTERN = re.compile(r"^\$?[A-Za-z0-9_.:@#/-]{1,200}$")

ChannelName = Annotated[
    str, StringConstraints(min_length=1, max_length=201, pattern=CHANNEL_NAME_PATTERN.pattern)
]
MAX_REF_LENGTH = 128


def _check_ref(value: object) -> str | int:
    """Accept a correlation key: a string of at most 128 characters, or an integer.

    One validator rather than a ``str | int`` union, so a bad ``ref`` is reported
    as field ``ref`` and not as pydantic's union member (``ref.constrained-str``).
    """
    if isinstance(value, str):
        if len(value) > MAX_REF_LENGTH:
            raise ValueError(f"must be at most {MAX_REF_LENGTH} characters")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("must be a string or an integer")


#: Equality filters on a publication's ``data``; a list value matches any of its items.
Filters = dict[str, Annotated[str, StringConstraints(max_length=200)] | list[str]]
#: A request's correlation key, echoed in the reply (PROTOCOL.md §2, ``ref``★).
Ref = Annotated[str | int, PlainValidator(_check_ref)]
Status = Annotated[str, StringConstraints(min_length=1, max_length=64)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _Request(_Frame):
    ref: Ref | None = None


class SinceModel(_Frame):
    """A resume position: the last ``offset`` seen within ``epoch``."""

    offset: Annotated[int, Field(ge=0)]
    epoch: Annotated[str, StringConstraints(max_length=64)]


# --- client → server ---------------------------------------------------------


class AuthFrame(_Request):
    type: Literal["auth"] = "auth"
    token: Annotated[str, StringConstraints(max_length=8192)]


class AuthRefreshFrame(_Request):
    """A fresh token for an open connection (before its current one expires)."""

    type: Literal["auth.refresh"] = "auth.refresh"
    token: Annotated[str, StringConstraints(max_length=8192)]


class ChannelCreateFrame(_Request):
    type: Literal["channel.create"] = "channel.create"
    channel: ChannelName
    metadata: dict[str, Any] | None = None


class ChannelSubscribeFrame(_Request):
    type: Literal["channel.subscribe"] = "channel.subscribe"
    channel: ChannelName
    since: SinceModel | None = None
    filters: Filters | None = None


class ChannelUnsubscribeFrame(_Request):
    type: Literal["channel.unsubscribe"] = "channel.unsubscribe"
    channel: ChannelName


class ChannelPublishFrame(_Request):
    type: Literal["channel.publish"] = "channel.publish"
    channel: ChannelName
    data: Any = None
    id: EventId | None = None
    #: Also deliver to the publishing connection when it is subscribed (★).
    echo: bool = False


class ChannelListFrame(_Request):
    type: Literal["channel.list"] = "channel.list"


class ChannelHistoryFrame(_Request):
    type: Literal["channel.history"] = "channel.history"
    channel: ChannelName
    since: SinceModel | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] | None = None


class PresenceHeartbeatFrame(_Request):
    type: Literal["presence.heartbeat"] = "presence.heartbeat"
    status: Status = "online"
    metadata: dict[str, Any] | None = None


#: Most entries one ``presence.list`` page may hold (``presence.query`` ``limit``).
MAX_PRESENCE_PAGE = 1000


class PresenceQueryFrame(_Request):
    type: Literal["presence.query"] = "presence.query"
    channel: ChannelName | None = None
    #: Entries wanted on this page (default ``LimitsConfig.presence_page_size``).
    limit: Annotated[int, Field(ge=1, le=MAX_PRESENCE_PAGE)] | None = None
    #: The previous page's ``next_cursor``: the page after it.
    cursor: Annotated[str, StringConstraints(max_length=MAX_CHANNEL_NAME_LENGTH)] | None = None


#: Longest ``reason`` of a ``message_nack``.
MAX_REASON_LENGTH = 500


class MessageAckFrame(_Request):
    type: Literal["message_ack"] = "message_ack"
    event_id: EventId | None = None
    event_ids: Annotated[list[EventId], Field(max_length=1000)] | None = None
    #: ``false``★: no ``ack_received`` wanted (a client's batched acknowledgements; a
    #: request with a ``ref`` is answered anyway).
    reply: bool = True


class MessageNackFrame(_Request):
    type: Literal["message_nack"] = "message_nack"
    event_id: EventId
    #: Why the client gives up on the message; shown in its ``$dead-letter`` entry.
    reason: Annotated[str, StringConstraints(max_length=MAX_REASON_LENGTH)] | None = None


class ExecuteFrame(_Request):
    """Start an agent run (PROTOCOL.md §2 ``execute``★, §4)."""

    type: Literal["execute"] = "execute"
    agent_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    input: Annotated[str, StringConstraints(max_length=1_000_000)]
    session_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    stream: bool = True


class ExecutionCancelFrame(_Request):
    type: Literal["execution.cancel"] = "execution.cancel"
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ExecutionApproveFrame(_Request):
    """Answer a run's approval request (PROTOCOL.md §2 ``execution.approve``★, §4)."""

    type: Literal["execution.approve"] = "execution.approve"
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    tool_call_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    approved: StrictBool
    reason: Annotated[str, StringConstraints(max_length=2_000)] | None = None


class PingFrame(_Request):
    type: Literal["ping"] = "ping"
    id: Ref | None = None


class PongFrame(_Request):
    type: Literal["pong"] = "pong"
    id: Ref | None = None


ClientFrame = (
    AuthFrame
    | AuthRefreshFrame
    | ChannelCreateFrame
    | ChannelSubscribeFrame
    | ChannelUnsubscribeFrame
    | ChannelPublishFrame
    | ChannelListFrame
    | ChannelHistoryFrame
    | PresenceHeartbeatFrame
    | PresenceQueryFrame
    | MessageAckFrame
    | MessageNackFrame
    | ExecuteFrame
    | ExecutionCancelFrame
    | ExecutionApproveFrame
    | PingFrame
    | PongFrame
)

#: ``type`` → model, for the codec's dispatch.
CLIENT_FRAME_TYPES: dict[str, type[_Request]] = {
    model.model_fields["type"].default: model
    for model in (
        AuthFrame,
        AuthRefreshFrame,
        ChannelCreateFrame,
        ChannelSubscribeFrame,
        ChannelUnsubscribeFrame,
        ChannelPublishFrame,
        ChannelListFrame,
        ChannelHistoryFrame,
        PresenceHeartbeatFrame,
        PresenceQueryFrame,
        MessageAckFrame,
        MessageNackFrame,
        ExecuteFrame,
        ExecutionCancelFrame,
        ExecutionApproveFrame,
        PingFrame,
        PongFrame,
    )
}


# --- server → client ---------------------------------------------------------


class _Reply(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    ref: Ref | None = None


class ConnectedFrame(_Reply):
    type: Literal["connected"] = "connected"
    client_id: str
    server_id: str
    protocol: str = "praison-push/1"
    heartbeat_interval: float
    resumed: bool = False
    #: ★ The largest frame the gateway accepts, in bytes.
    max_message_size: int | None = None


class HelloErrorFrame(_Reply):
    type: Literal["hello_error"] = "hello_error"
    code: str
    message: str


class ErrorFrame(_Reply):
    type: Literal["error"] = "error"
    code: str
    message: str
    details: dict[str, Any] | None = None


class ChannelCreatedFrame(_Reply):
    type: Literal["channel.created"] = "channel.created"
    channel: str
    ok: bool = True


class ChannelSubscribedFrame(_Reply):
    type: Literal["channel.subscribed"] = "channel.subscribed"
    channel: str
    ok: bool = True
    offset: int
    epoch: str
    recovered: bool


class ChannelUnsubscribedFrame(_Reply):
    type: Literal["channel.unsubscribed"] = "channel.unsubscribed"
    channel: str
    ok: bool = True


class ChannelPublishedFrame(_Reply):
    type: Literal["channel.published"] = "channel.published"
    channel: str
    delivered: int
    event_id: str
    offset: int
    duplicate: bool = False


class ChannelListReplyFrame(_Reply):
    type: Literal["channel.list"] = "channel.list"
    channels: list[str]


class ChannelMessageFrame(_Reply):
    type: Literal["channel_message"] = "channel_message"
    channel: str
    data: Any
    event_id: str
    timestamp: float
    source: str | None
    target: str | None = None
    offset: int
    epoch: str


class ChannelGapFrame(_Reply):
    """Messages of ``channel`` up to ``offset`` in ``epoch`` will not arrive (PROTOCOL.md §3):
    dropped for a slow consumer (``reason: slow_consumer``) or lost from history."""

    type: Literal["channel_gap"] = "channel_gap"
    channel: str
    epoch: str
    offset: int
    reason: str


class ChannelHistoryReplyFrame(_Reply):
    type: Literal["channel.history"] = "channel.history"
    channel: str
    messages: list[ChannelMessageFrame]
    offset: int
    epoch: str


class PresenceHeartbeatAckFrame(_Reply):
    type: Literal["presence.heartbeat_ack"] = "presence.heartbeat_ack"
    ok: bool = True


class PresenceInfoModel(BaseModel):
    """``PresenceInfo`` on the wire (PROTOCOL.md §2)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    client_id: str
    user_id: str | None = None
    status: str
    last_seen: float
    metadata: dict[str, Any] = Field(default_factory=dict)
    channels: list[str] = Field(default_factory=list)


class PresenceListFrame(_Reply):
    type: Literal["presence.list"] = "presence.list"
    channel: str | None
    presence: list[PresenceInfoModel]


class PresenceEventFrame(_Reply):
    type: Literal["presence_join", "presence_update", "presence_leave"]
    channel: str
    data: dict[str, Any]
    event_id: str
    timestamp: float


class PresenceChangeModel(BaseModel):
    """One client's entry in a ``presence_diff`` (the ``data`` of a single-event frame)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    client_id: str
    status: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class PresenceDiffData(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    joins: list[PresenceChangeModel] = Field(default_factory=list)
    updates: list[PresenceChangeModel] = Field(default_factory=list)
    leaves: list[PresenceChangeModel] = Field(default_factory=list)


class PresenceDiffFrame(_Reply):
    """A channel's presence changes of one broadcast interval (PROTOCOL.md §8)."""

    type: Literal["presence_diff"] = "presence_diff"
    channel: str
    data: PresenceDiffData
    event_id: str
    timestamp: float


class ExecuteAcceptedFrame(_Reply):
    type: Literal["execute.accepted"] = "execute.accepted"
    execution_id: str
    channel: str


class ExecutionCancelledFrame(_Reply):
    type: Literal["execution.cancelled"] = "execution.cancelled"
    execution_id: str
    ok: bool


class ExecutionApprovedFrame(_Reply):
    type: Literal["execution.approved"] = "execution.approved"
    execution_id: str
    tool_call_id: str
    ok: bool


class AckReceivedFrame(_Reply):
    """``ok`` only when every acknowledged id was a pending delivery; ``unknown``★ lists
    the others (PROTOCOL.md §8)."""

    type: Literal["ack_received"] = "ack_received"
    event_id: str | None
    ok: bool
    event_ids: list[str] | None = None
    unknown: list[str] | None = None


class NackReceivedFrame(_Reply):
    type: Literal["nack_received"] = "nack_received"
    event_id: str
    ok: bool
