"""SSE records for agent runs (PROTOCOL.md §5), one native run event at a time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from praison_push.protocol.sse import SSE_DONE, SSE_RETRY_MS, sse_record, to_sse_execution


def run_event(data: Any, event_id: str | None = "ev-1") -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "channel_message", "channel": "executions:x", "data": data}
    if event_id is not None:
        frame["event_id"] = event_id
    return frame


def parse(record: str) -> tuple[str, str | None, Any]:
    """``(event, id, data)`` of one SSE record."""
    assert record.endswith("\n\n")
    fields = dict(line.split(": ", 1) for line in record.strip("\n").split("\n"))
    return fields["event"], fields.get("id"), json.loads(fields["data"])


def test_constants() -> None:
    assert SSE_RETRY_MS == 3000
    assert parse(SSE_DONE) == ("done", None, {})


def test_sse_record() -> None:
    assert sse_record("token", {"t": "é"}) == 'event: token\ndata: {"t":"é"}\n\n'
    assert sse_record("x", [1], "id-9") == "event: x\nid: id-9\ndata: [1]\n\n"
    # Data is always a single line, even when it holds newlines.
    assert sse_record("x", "a\nb").count("\n") == 3


def test_keepalive_and_other_frames() -> None:
    assert to_sse_execution({"type": "ping"}) == [": keepalive\n\n"]
    assert to_sse_execution({"type": "presence_join"}) == []
    assert to_sse_execution({}) == []
    assert to_sse_execution(run_event("not a dict")) == []
    assert to_sse_execution(run_event({"event": "something_new"})) == []
    assert to_sse_execution(run_event({})) == []


def test_start() -> None:
    data = {"event": "execution_start", "execution_id": "x", "agent_id": "a", "status": "running"}
    (record,) = to_sse_execution(run_event({**data, "extra": 1}))
    assert parse(record) == (
        "execution_start",
        "ev-1",
        {"execution_id": "x", "agent_id": "a", "status": "running"},
    )
    (partial,) = to_sse_execution(run_event({"event": "execution_start"}, event_id=None))
    assert parse(partial) == ("execution_start", None, {})


def test_token() -> None:
    (record,) = to_sse_execution(
        run_event({"event": "execution_token", "execution_id": "x", "token": "Hel", "index": 0})
    )
    assert parse(record) == ("token", "ev-1", {"token": "Hel", "index": 0})


@pytest.mark.parametrize(
    ("status", "event"),
    [("calling", "tool_call"), ("completed", "tool_result"), ("failed", "tool_result")],
)
def test_tool_events(status: str, event: str) -> None:
    call = {"id": "t1", "name": "weather", "status": status, "arguments": {"city": "Paris"}}
    (record,) = to_sse_execution(
        run_event({"event": "execution_tool", "execution_id": "x", "tool_call": call})
    )
    assert parse(record) == (event, "ev-1", call)


def test_tool_event_without_a_call() -> None:
    (record,) = to_sse_execution(run_event({"event": "execution_tool", "tool_call": None}))
    assert parse(record) == ("tool_result", "ev-1", {})


def test_complete_ends_the_stream() -> None:
    data = {
        "event": "execution_complete",
        "execution_id": "x",
        "status": "completed",
        "output": "Sunny",
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        "latency_ms": 12,
    }
    record, done = to_sse_execution(run_event(data))
    assert parse(record) == (
        "complete",
        "ev-1",
        {key: data[key] for key in ("status", "output", "usage", "latency_ms")},
    )
    assert done == SSE_DONE
    bare, _ = to_sse_execution(run_event({"event": "execution_complete"}))
    assert parse(bare)[2] == {}


def test_error_ends_the_stream_and_lifts_retry_after() -> None:
    data: dict[str, Any] = {
        "event": "execution_error",
        "execution_id": "x",
        "status": "cancelled",
        "error": {"code": "rate_limited", "message": "slow down", "details": {"retry_after": 5}},
    }
    record, done = to_sse_execution(run_event(data))
    assert parse(record) == (
        "error",
        "ev-1",
        {"code": "rate_limited", "message": "slow down", "retry_after": 5, "status": "cancelled"},
    )
    assert done == SSE_DONE
    assert data["error"]["details"] == {"retry_after": 5}  # the frame was not mutated


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, {"status": "failed"}),
        (
            {"code": "internal", "message": "m"},
            {"code": "internal", "message": "m", "status": "failed"},
        ),
        ({"code": "c", "details": {"other": 1}}, {"code": "c", "status": "failed"}),
        ({"code": "c", "details": "text"}, {"code": "c", "status": "failed"}),
        (
            {"code": "c", "retry_after": 1, "details": {"retry_after": 9}},
            {"code": "c", "retry_after": 1, "status": "failed"},
        ),
    ],
)
def test_error_shapes(error: Any, expected: dict[str, Any]) -> None:
    record, _ = to_sse_execution(run_event({"event": "execution_error", "error": error}))
    assert parse(record)[2] == expected


@pytest.mark.parametrize(
    ("event", "fields", "name"),
    [
        ("execution_tool_call_delta", {"tool_call_id": "c", "name": "t", "delta": "{"},
         "tool_call_delta"),
        ("execution_reasoning", {"delta": "hmm"}, "reasoning"),
        ("execution_approval_request",
         {"tool_call_id": "c", "name": "t", "arguments": {}, "timeout": 30}, "approval_request"),
        ("execution_approval_result",
         {"tool_call_id": "c", "name": "t", "approved": False, "reason": "no"}, "approval_result"),
    ],
)  # fmt: skip
def test_richer_run_events(event: str, fields: dict[str, Any], name: str) -> None:
    data = {"event": event, "execution_id": "x", "agent_id": "a", "user_id": "u", **fields}
    [record] = to_sse_execution(run_event(data))
    assert parse(record) == (name, "ev-1", fields)  # the run's own fields, not its names
