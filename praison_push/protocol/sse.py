"""Server-Sent Events records for agent runs, as the agent platform spec streams them.

``POST /v1/agents/{agent_id}/execute/stream`` answers with ``execution_start``,
``token``, ``tool_call``, ``tool_result``, ``complete`` or ``error``, then
``done`` (PROTOCOL.md §5) — and, for the richer run events, ``tool_call_delta``,
``reasoning``, ``approval_request`` and ``approval_result``. These pure
functions turn one native run event into those records; the server only writes
them out.
"""

from __future__ import annotations

from typing import Any

from .codec import encode_json
from .runs import RunEvent, RunStatus

__all__ = ["SSE_DONE", "SSE_RETRY_MS", "sse_record", "to_sse_execution"]

#: Reconnection delay advertised to SSE clients (the spec's ``retry: 3000``).
SSE_RETRY_MS = 3000

#: The record that ends a run's stream.
SSE_DONE = "event: done\ndata: {}\n\n"


#: SSE event names of the richer run events; their data is the event's own fields.
_SSE_NAMES = {
    RunEvent.TOOL_CALL_DELTA.value: "tool_call_delta",
    RunEvent.REASONING.value: "reasoning",
    RunEvent.APPROVAL_REQUEST.value: "approval_request",
    RunEvent.APPROVAL_RESULT.value: "approval_result",
}
#: Fields every run event carries, left out of those records (the stream names the run).
_RUN_KEYS = frozenset({"event", "execution_id", "agent_id", "user_id", "session_id"})


def sse_record(event: str, data: Any, event_id: str | None = None) -> str:
    """One SSE record; ``data`` is JSON-encoded on a single line."""
    head = f"event: {event}\n"
    if event_id is not None:
        head += f"id: {event_id}\n"
    return f"{head}data: {encode_json(data)}\n\n"


def to_sse_execution(frame: dict[str, Any]) -> list[str]:
    """SSE records for one native frame of a run's channel (others give none).

    The run's last event is followed by the ``done`` record, which tells the
    server the stream is over.
    """
    kind = frame.get("type")
    if kind == "ping":
        return [": keepalive\n\n"]  # an SSE comment keeps proxies from timing out
    if kind != "channel_message":
        return []
    data = frame.get("data")
    if not isinstance(data, dict):
        return []
    event, event_id = data.get("event"), frame.get("event_id")
    if event == RunEvent.START:
        payload = {key: data[key] for key in ("execution_id", "agent_id", "status") if key in data}
        return [sse_record(RunEvent.START.value, payload, event_id)]
    if event == RunEvent.TOKEN:
        return [
            sse_record("token", {"token": data.get("token"), "index": data.get("index")}, event_id)
        ]
    if event == RunEvent.TOOL:
        call = data.get("tool_call") or {}
        kind = "tool_call" if call.get("status") == "calling" else "tool_result"
        return [sse_record(kind, call, event_id)]
    if event in _SSE_NAMES:
        payload = {key: value for key, value in data.items() if key not in _RUN_KEYS}
        return [sse_record(_SSE_NAMES[event], payload, event_id)]
    if event == RunEvent.COMPLETE:
        payload = {
            key: data[key] for key in ("status", "output", "usage", "latency_ms") if key in data
        }
        return [sse_record("complete", payload, event_id), SSE_DONE]
    if event == RunEvent.ERROR:
        error = dict(data.get("error") or {})
        details = error.pop("details", None)
        if isinstance(details, dict) and "retry_after" in details:
            error.setdefault("retry_after", details["retry_after"])
        error["status"] = data.get("status", RunStatus.FAILED.value)
        return [sse_record("error", error, event_id), SSE_DONE]
    return []
