"""Dialect translations, frame by frame (PROTOCOL.md §1, §5)."""

from __future__ import annotations

from typing import Any

import pytest

from praison_push.protocol.dialects import (
    Dialect,
    detect_dialect,
    envelope_auth_error,
    envelope_auth_success,
    from_agent_chat,
    from_envelope,
    iso_timestamp,
    to_agent_chat,
    to_envelope,
)

TS = 1768212000.1234  # 2026-01-12T10:00:00.123Z


def message(data: Any, **extra: Any) -> dict[str, Any]:
    frame = {
        "type": "channel_message",
        "channel": "executions:exec_1",
        "data": data,
        "event_id": "evt_1",
        "timestamp": TS,
        "offset": 3,
    }
    frame.update(extra)
    return frame


@pytest.mark.parametrize(
    ("requested", "first", "expected"),
    [
        ("envelope", None, Dialect.ENVELOPE),
        ("agent-chat", None, Dialect.AGENT_CHAT),
        ("praison", {"type": "chat"}, Dialect.PRAISON),
        ("bogus", None, None),
        (None, None, Dialect.PRAISON),
        (None, {"type": "auth", "payload": {"token": "t"}}, Dialect.ENVELOPE),
        (None, {"type": "auth", "token": "t"}, Dialect.PRAISON),
        (None, {"type": "subscribe", "agent_id": "a"}, Dialect.AGENT_CHAT),
        (None, {"type": "chat", "agent_id": "a", "message": "m"}, Dialect.AGENT_CHAT),
        (None, {"type": "subscribe", "payload": {"channel": "c"}}, Dialect.ENVELOPE),
        (None, {"type": "execute", "payload": {}}, Dialect.ENVELOPE),
        (None, {"type": "subscribe"}, Dialect.PRAISON),
        (None, {"type": "channel.subscribe", "channel": "c"}, Dialect.PRAISON),
    ],
)
def test_detect_dialect(requested: str | None, first: Any, expected: Dialect | None) -> None:
    assert detect_dialect(requested, first) is expected


def test_iso_timestamp_matches_the_spec_format() -> None:
    assert iso_timestamp(TS) == "2026-01-12T10:00:00.123Z"


def test_envelope_inbound_maps_payload_and_id() -> None:
    native = from_envelope(
        {
            "type": "subscribe",
            "id": "sub_123",
            "payload": {"channel": "executions", "filters": {"agent_id": "a"}},
        }
    )
    assert native == {
        "type": "channel.subscribe",
        "channel": "executions",
        "filters": {"agent_id": "a"},
        "ref": "sub_123",
    }
    assert from_envelope({"type": "ping", "id": "ping_001"}) == {
        "type": "ping",
        "ref": "ping_001",
        "id": "ping_001",
    }
    assert from_envelope({"type": "execute", "payload": "junk", "id": True}) == {"type": "execute"}
    odd = {"type": "mystery", "payload": {}}
    assert from_envelope(odd) is odd
    assert from_envelope({"type": 5}) == {"type": 5}


def test_envelope_auth_frames() -> None:
    assert envelope_auth_success("u", "o", "c") == {
        "type": "auth_success",
        "payload": {"user_id": "u", "org_id": "o", "connection_id": "c"},
    }
    assert envelope_auth_error("bad")["payload"] == {"code": "INVALID_TOKEN", "message": "bad"}


def test_envelope_outbound_execution_events() -> None:
    data = {"event": "execution_token", "execution_id": "exec_1", "token": "The ", "index": 0}
    [frame] = to_envelope(message(data))
    assert frame == {
        "type": "execution_token",
        "id": "evt_1",
        "timestamp": "2026-01-12T10:00:00.123Z",
        "payload": {"execution_id": "exec_1", "token": "The ", "index": 0},
    }


def test_envelope_outbound_other_frames() -> None:
    [plain] = to_envelope(message({"x": 1}, channel="notifications"))
    assert plain["type"] == "channel_message"
    assert plain["payload"] == {"channel": "notifications", "data": {"x": 1}, "offset": 3}
    [no_ts] = to_envelope({"type": "channel_message", "channel": "c", "data": 1})
    assert "timestamp" not in no_ts and "id" not in no_ts
    presence = {
        "type": "presence_join",
        "channel": "c",
        "data": {"client_id": "a", "status": "online"},
        "event_id": "e",
        "timestamp": TS,
    }
    assert to_envelope(presence)[0]["payload"] == {
        "channel": "c",
        "client_id": "a",
        "status": "online",
    }
    assert to_envelope({"type": "pong", "id": "p1"}) == [{"type": "pong", "id": "p1"}]
    assert to_envelope({"type": "pong", "ref": "r"}) == [{"type": "pong", "id": "r"}]
    assert to_envelope({"type": "ping"}) == [{"type": "ping"}]
    assert to_envelope({"type": "connected", "client_id": "x"}) == []
    [subscribed] = to_envelope(
        {"type": "channel.subscribed", "channel": "c", "ok": True, "ref": "s1"}
    )
    assert subscribed == {"type": "subscribed", "id": "s1", "payload": {"channel": "c", "ok": True}}
    [error] = to_envelope({"type": "error", "code": "forbidden", "message": "no"})
    assert error == {"type": "error", "payload": {"code": "forbidden", "message": "no"}}


def test_agent_chat_inbound() -> None:
    assert from_agent_chat({"type": "subscribe", "agent_id": "echo"}) == {
        "type": "channel.subscribe",
        "channel": "executions",
        "filters": {"agent_id": "echo"},
    }
    assert from_agent_chat({"type": "subscribe"})["filters"] == {"agent_id": ""}
    assert from_agent_chat({"type": "chat", "agent_id": "echo", "message": "hi"}, "s1") == {
        "type": "execute",
        "agent_id": "echo",
        "input": "hi",
        "session_id": "s1",
    }
    assert from_agent_chat({"type": "chat", "message": 5}) == {
        "type": "execute",
        "agent_id": "",
        "input": "",
    }
    ping = {"type": "ping"}
    assert from_agent_chat(ping) is ping


def test_agent_chat_outbound_run() -> None:
    def run(event: str, **fields: Any) -> list[dict[str, Any]]:
        return to_agent_chat(message({"event": event, "agent_id": "a", **fields}))

    assert run("execution_start") == [{"type": "agent_thinking", "agent_id": "a"}]
    assert run("execution_token", token="Hi") == [
        {"type": "stream_chunk", "agent_id": "a", "chunk": "Hi", "done": False}
    ]
    assert run("execution_tool", tool_call={"name": "t", "status": "calling"}) == [
        {"type": "tool_update", "agent_id": "a", "tool_name": "t", "status": "calling"}
    ]
    [done_tool] = run("execution_tool", tool_call={"name": "t", "status": "completed", "result": 1})
    assert done_tool["result"] == 1
    assert [f["type"] for f in run("execution_complete", output="Hi")] == [
        "stream_chunk",
        "response",
        "agent_done",
    ]
    [error] = run("execution_error", error={"code": "AGENT_FAILED", "message": "boom"})
    assert error["type"] == "error" and "boom" in error["message"]
    assert run("something_else") == []


def test_agent_chat_outbound_control_frames() -> None:
    assert to_agent_chat({"type": "connected", "client_id": "c", "server_id": "s"}) == [
        {"type": "connected", "client_id": "c"}
    ]
    assert to_agent_chat({"type": "channel.subscribed", "filters": {"agent_id": "a"}}) == [
        {"type": "subscribed", "agent_id": "a"}
    ]
    assert to_agent_chat({"type": "channel.subscribed"}) == [
        {"type": "subscribed", "agent_id": None}
    ]
    assert to_agent_chat({"type": "pong"}) == [{"type": "ping"}]
    assert to_agent_chat({"type": "error", "code": "unknown_agent", "message": "m"}) == [
        {"type": "error", "message": "m", "code": "unknown_agent"}
    ]
    assert to_agent_chat({"type": "execute.accepted"}) == []
    assert to_agent_chat(message("not a dict")) == []


def test_agent_chat_renders_the_richer_run_events() -> None:
    def run(event: str, **fields: Any) -> list[dict[str, Any]]:
        return to_agent_chat(message({"event": event, "agent_id": "a", **fields}))

    call = {"name": "t", "status": "calling", "arguments": {"q": 1}}
    assert run("execution_tool", tool_call=call)[0]["arguments"] == {"q": 1}
    failed = {"name": "t", "status": "failed", "error": "boom"}
    assert run("execution_tool", tool_call=failed)[0]["error"] == "boom"
    assert run("execution_reasoning", delta="hmm") == [
        {"type": "agent_thinking", "agent_id": "a", "reasoning": "hmm"}
    ]
    assert run("execution_tool_call_delta", tool_call_id="c", name="t", delta='{"q"') == [
        {
            "type": "tool_update",
            "agent_id": "a",
            "tool_name": "t",
            "tool_call_id": "c",
            "status": "streaming",
            "arguments_delta": '{"q"',
        }
    ]
    asked = run(
        "execution_approval_request",
        execution_id="exec_1",
        tool_call_id="c",
        name="t",
        arguments={"q": 1},
        timeout=30,
    )
    assert asked == [
        {
            "type": "tool_update",
            "agent_id": "a",
            "tool_name": "t",
            "tool_call_id": "c",
            "status": "awaiting_approval",
            "execution_id": "exec_1",
            "arguments": {"q": 1},
            "timeout": 30,
        }
    ]
    [denied] = run("execution_approval_result", tool_call_id="c", name="t", approved=False,
                   reason="no")  # fmt: skip
    assert (denied["status"], denied["reason"]) == ("denied", "no")
    [approved] = run("execution_approval_result", tool_call_id="c", name="t", approved=True)
    assert approved["status"] == "approved" and "reason" not in approved


def test_approve_in_every_dialect() -> None:
    answer = {"execution_id": "e", "tool_call_id": "c", "approved": True}
    assert from_agent_chat({"type": "approve", **answer}) == {
        "type": "execution.approve",
        **answer,
    }
    assert from_envelope({"type": "approve", "id": "a1", "payload": answer}) == {
        "type": "execution.approve",
        "ref": "a1",
        **answer,
    }
    reply = {"type": "execution.approved", "ref": "a1", "ok": True, **answer}
    [envelope] = to_envelope(reply, now=0.0)
    assert (envelope["type"], envelope["id"], envelope["payload"]["ok"]) == ("approved", "a1", True)


def test_only_gateway_run_events_become_top_level_frames() -> None:
    """Issue 13, finding 1: a client's publication with ``data.event`` stays a message."""
    forged = {"event": "execution_complete", "execution_id": "exec_1", "output": "fake"}
    [frame] = to_envelope(message(forged, channel="shared"))
    assert frame["type"] == "channel_message"
    assert frame["payload"]["channel"] == "shared" and frame["payload"]["data"] == forged
    [auth] = to_envelope(message({"event": "auth_success"}, channel="executions:exec_1"))
    assert auth["type"] == "channel_message"  # not a run event, even on a run channel
    [real] = to_envelope(message(forged, channel="executions#org_a"))
    assert real["type"] == "execution_complete"
    assert to_agent_chat(message(forged, channel="shared")) == []
    assert to_agent_chat(message(forged))[1]["type"] == "response"
