"""The two foreign wire dialects, as pure translations to and from native frames.

One gateway speaks three dialects over one internal model (PROTOCOL.md §1, §5):
``praison`` (native), ``envelope`` (the agent platform spec:
``{"type","id","timestamp","payload"}``) and ``agent-chat`` (the agent framework
guide's flat ``subscribe``/``chat`` frames). Inbound, a foreign frame becomes a
native one; outbound, a native frame becomes zero or more foreign ones. No I/O
and no clock: timestamps are converted from the frame's own ``timestamp``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

from .runs import RUN_FEED, RunEvent, is_run_channel, is_run_feed

__all__ = [
    "Dialect",
    "detect_dialect",
    "envelope_auth_error",
    "envelope_auth_success",
    "from_agent_chat",
    "from_envelope",
    "gateway_run_event",
    "iso_timestamp",
    "to_agent_chat",
    "to_envelope",
]


class Dialect(str, Enum):
    """A connection's wire dialect (PROTOCOL.md §1)."""

    PRAISON = "praison"
    ENVELOPE = "envelope"
    AGENT_CHAT = "agent-chat"


def detect_dialect(requested: str | None, first_frame: dict[str, Any] | None) -> Dialect | None:
    """The dialect chosen by ``?protocol=`` or, failing that, by the first client frame.

    Returns ``None`` when ``requested`` names no dialect (the caller refuses it).
    """
    if requested:
        try:
            return Dialect(requested)
        except ValueError:
            return None
    if first_frame is None:
        return Dialect.PRAISON
    kind = first_frame.get("type")
    if kind == "auth" and isinstance(first_frame.get("payload"), dict):
        return Dialect.ENVELOPE
    if kind == "chat" or (kind == "subscribe" and "agent_id" in first_frame):
        return Dialect.AGENT_CHAT
    if kind in ("subscribe", "unsubscribe", "execute") and isinstance(
        first_frame.get("payload"), dict
    ):
        return Dialect.ENVELOPE
    return Dialect.PRAISON


def iso_timestamp(seconds: float) -> str:
    """``2026-01-12T10:00:00.000Z`` for a POSIX time, as the envelope spec writes it."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- envelope (agent platform spec) ----------------------------------------------

_ENVELOPE_IN = {
    "auth": "auth",
    "subscribe": "channel.subscribe",
    "unsubscribe": "channel.unsubscribe",
    "publish": "channel.publish",
    "execute": "execute",
    "cancel": "execution.cancel",
    "approve": "execution.approve",
    "ping": "ping",
    "pong": "pong",
    "presence": "presence.query",
    "heartbeat": "presence.heartbeat",
    "ack": "message_ack",
}

_ENVELOPE_REPLIES = {
    "channel.subscribed": "subscribed",
    "channel.unsubscribed": "unsubscribed",
    "channel.published": "published",
    "execution.cancelled": "cancelled",
    "execution.approved": "approved",
    "presence.list": "presence",
    "presence.heartbeat_ack": "heartbeat_ack",
    "channel.history": "history",
    "channel.list": "channels",
    "channel.created": "created",
}

#: Native reply frames an envelope client has no use for.
_ENVELOPE_DROPPED = frozenset({"connected", "execute.accepted", "ack_received", "nack_received"})


def from_envelope(frame: dict[str, Any]) -> dict[str, Any]:
    """A native frame for an envelope frame; the envelope ``id`` becomes ``ref``.

    Unknown envelope types pass through unchanged, so the hub answers them with
    ``unknown_type`` like any other frame.
    """
    kind = frame.get("type")
    native_type = _ENVELOPE_IN.get(kind) if isinstance(kind, str) else None
    if native_type is None:
        return frame
    payload = frame.get("payload")
    native: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
    native["type"] = native_type
    request_id = frame.get("id")
    if isinstance(request_id, (str, int)) and not isinstance(request_id, bool):
        native["ref"] = request_id
        if native_type == "ping":
            native["id"] = request_id
    return native


def envelope_auth_success(
    user_id: str | None, org_id: str | None, connection_id: str
) -> dict[str, Any]:
    """The ``auth_success`` frame of the agent platform spec."""
    return {
        "type": "auth_success",
        "payload": {"user_id": user_id, "org_id": org_id, "connection_id": connection_id},
    }


def envelope_auth_error(message: str) -> dict[str, Any]:
    """The ``auth_error`` frame of the agent platform spec (followed by close 4001)."""
    return {"type": "auth_error", "payload": {"code": "INVALID_TOKEN", "message": message}}


_RUN_EVENTS = frozenset(event.value for event in RunEvent)


def gateway_run_event(frame: dict[str, Any]) -> str | None:
    """The run event a ``channel_message`` carries, when only the gateway can have sent it.

    That is a :class:`RunEvent` on a run channel or the run feed, the channels
    clients may never publish on. Anything else a client published (even with a
    ``data.event`` such as ``execution_complete`` or ``auth_success``) is just a
    channel message: a foreign dialect must not turn it into a top-level event.
    """
    channel = frame.get("channel")
    if not isinstance(channel, str) or not (is_run_channel(channel) or is_run_feed(channel)):
        return None
    data = frame.get("data")
    event = data.get("event") if isinstance(data, dict) else None
    return event if isinstance(event, str) and event in _RUN_EVENTS else None


def _envelope(
    kind: str, frame_id: Any, timestamp: float | None, payload: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind}
    if frame_id is not None:
        out["id"] = frame_id
    if timestamp is not None:
        out["timestamp"] = iso_timestamp(timestamp)
    out["payload"] = payload
    return out


def to_envelope(frame: dict[str, Any], now: float | None = None) -> list[dict[str, Any]]:
    """Envelope frames for one native server frame (often one, sometimes none).

    Args:
        frame: The native frame.
        now: The time to stamp frames that carry no ``timestamp`` of their own
            (replies); without it they are sent unstamped.
    """
    kind = frame.get("type", "")
    if kind in _ENVELOPE_DROPPED:
        return []
    timestamp = frame.get("timestamp")
    ts = float(timestamp) if isinstance(timestamp, (int, float)) else now
    if kind == "channel_message":
        data = frame.get("data")
        event = gateway_run_event(frame)
        if event is not None and isinstance(data, dict):
            payload = {key: value for key, value in data.items() if key != "event"}
            return [_envelope(event, frame.get("event_id"), ts, payload)]
        payload = {"channel": frame.get("channel"), "data": data, "offset": frame.get("offset")}
        return [_envelope("channel_message", frame.get("event_id"), ts, payload)]
    if kind.startswith("presence_"):
        payload = {"channel": frame.get("channel"), **(frame.get("data") or {})}
        return [_envelope(kind, frame.get("event_id"), ts, payload)]
    if kind == "pong":  # exactly the spec's heartbeat answer
        return [{"type": "pong", "id": frame.get("id", frame.get("ref"))}]
    if kind == "ping":
        return [{"type": "ping"}]
    reply_id = frame.get("ref")
    payload = {key: value for key, value in frame.items() if key not in ("type", "ref")}
    return [_envelope(_ENVELOPE_REPLIES.get(kind, kind), reply_id, ts, payload)]


# --- agent-chat (agent framework guide) --------------------------------------------


def from_agent_chat(frame: dict[str, Any], session_id: str | None = None) -> dict[str, Any]:
    """A native frame for an agent-chat frame.

    ``subscribe {agent_id}`` watches the agent's runs (the ``executions`` feed
    filtered by agent; the hub narrows it to the connection's conversation);
    ``chat {agent_id, message}`` starts a run in the connection's session;
    ``approve {execution_id, tool_call_id, approved, reason?}`` answers an
    approval request.
    """
    kind = frame.get("type")
    if kind == "subscribe":
        agent_id = frame.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id:
            return {
                "type": "channel.subscribe",
                "channel": RUN_FEED,
                "filters": {"agent_id": ""},
            }
        return {
            "type": "channel.subscribe",
            "channel": RUN_FEED,
            "filters": {"agent_id": agent_id},
        }
    if kind == "approve":  # our extension: answer an approval request (§8)
        return {**frame, "type": "execution.approve"}
    if kind == "chat":
        native: dict[str, Any] = {
            "type": "execute",
            "agent_id": frame.get("agent_id") or "",
            "input": frame.get("message") if isinstance(frame.get("message"), str) else "",
        }
        if session_id is not None:
            native["session_id"] = session_id
        return native
    return frame


_AGENT_CHAT_TOOL_NEWS = frozenset(
    {RunEvent.TOOL_CALL_DELTA, RunEvent.APPROVAL_REQUEST, RunEvent.APPROVAL_RESULT}
)


def _tool_news(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_update`` for argument deltas and approvals (our additions to the guide).

    ``status`` says which: ``streaming`` (with ``arguments_delta``),
    ``awaiting_approval`` (with what an ``approve`` frame needs), ``approved``
    or ``denied``.
    """
    update: dict[str, Any] = {
        "type": "tool_update",
        "agent_id": data.get("agent_id"),
        "tool_name": data.get("name"),
        "tool_call_id": data.get("tool_call_id"),
    }
    if event == RunEvent.TOOL_CALL_DELTA:
        update.update(status="streaming", arguments_delta=data.get("delta"))
    elif event == RunEvent.APPROVAL_REQUEST:
        update.update(
            status="awaiting_approval",
            execution_id=data.get("execution_id"),
            arguments=data.get("arguments"),
            timeout=data.get("timeout"),
        )
    else:
        update["status"] = "approved" if data.get("approved") is True else "denied"
        if data.get("reason"):
            update["reason"] = data["reason"]
    return update


def to_agent_chat(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Agent-chat frames for one native server frame."""
    kind = frame.get("type", "")
    if kind == "connected":
        return [{"type": "connected", "client_id": frame.get("client_id")}]
    if kind == "channel.subscribed":
        filters = frame.get("filters") or {}
        return [{"type": "subscribed", "agent_id": filters.get("agent_id")}]
    if kind in ("ping", "pong"):
        return [{"type": "ping"}]
    if kind == "error":
        return [{"type": "error", "message": frame.get("message", ""), "code": frame.get("code")}]
    if kind != "channel_message":
        return []
    data = frame.get("data")
    event = gateway_run_event(frame)
    if event is None or not isinstance(data, dict):
        return []
    agent_id = data.get("agent_id")
    if event == RunEvent.START:
        return [{"type": "agent_thinking", "agent_id": agent_id}]
    if event == RunEvent.TOKEN:
        return [
            {
                "type": "stream_chunk",
                "agent_id": agent_id,
                "chunk": data.get("token", ""),
                "done": False,
            }
        ]
    if event == RunEvent.TOOL:
        call = data.get("tool_call") or {}
        update: dict[str, Any] = {
            "type": "tool_update",
            "agent_id": agent_id,
            "tool_name": call.get("name"),
            "status": call.get("status"),
        }
        for key in ("arguments", "result", "error"):
            if key in call:
                update[key] = call[key]
        return [update]
    if event == RunEvent.REASONING:
        return [{"type": "agent_thinking", "agent_id": agent_id, "reasoning": data.get("delta")}]
    if event in _AGENT_CHAT_TOOL_NEWS:
        return [_tool_news(event, data)]
    if event == RunEvent.COMPLETE:
        return [
            {"type": "stream_chunk", "agent_id": agent_id, "chunk": "", "done": True},
            {"type": "response", "agent_id": agent_id, "message": data.get("output", "")},
            {"type": "agent_done", "agent_id": agent_id},
        ]
    if event == RunEvent.ERROR:
        error = data.get("error") or {}
        return [
            {
                "type": "error",
                "message": f"Error processing message: {error.get('message', '')}",
                "code": error.get("code"),
                "agent_id": agent_id,
            }
        ]
    return []
