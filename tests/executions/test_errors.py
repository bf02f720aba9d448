"""Runs that fail, are refused or are cancelled — and a gateway that keeps serving after."""

from __future__ import annotations

from collections.abc import AsyncIterator

from praison_push.agents import AgentEvent, ToolCall, ToolResult
from praison_push.server import GatewayThread

from .helpers import execute as start_run
from .helpers import (
    has_token,
    hub_of,
    long_output,
    native,
    of_type,
    recv,
    register,
    run_event,
    run_events,
    send,
    serves_a_run,
    streamed,
    until,
)


async def test_an_agent_that_raises_fails_the_run(gateway: GatewayThread) -> None:
    async def broken(text: str) -> AsyncIterator[AgentEvent]:
        yield "partial "
        raise RuntimeError("the model is on fire")

    register(gateway, "broken", broken)
    async with native(gateway.url) as ws:
        execution_id = await start_run(ws, "broken", "hello")
        events = await run_events(ws)
    assert [event["event"] for event in events] == [
        "execution_start",
        "execution_token",
        "execution_error",
    ]
    error = events[-1]
    assert error["execution_id"] == execution_id
    assert error["status"] == "failed"
    assert error["error"] == {"code": "AGENT_FAILED", "message": "the model is on fire"}
    assert hub_of(gateway).runs.get(execution_id).status == "failed"
    await serves_a_run(gateway.url)


async def test_a_failed_tool_is_an_event_and_the_run_goes_on(gateway: GatewayThread) -> None:
    """A tool error does not end the run: the agent may answer without the tool."""

    async def flaky(text: str) -> AsyncIterator[AgentEvent]:
        call = ToolCall("get_weather", {"city": "Paris"}, id="tool_001")
        yield call
        yield ToolResult(call, error="down")
        yield "The weather service is down; try again later."

    register(gateway, "flaky", flaky)
    async with native(gateway.url) as ws:
        await start_run(ws, "flaky", "weather?")
        events = await run_events(ws)
    assert [event["event"] for event in events] == [
        "execution_start",
        "execution_tool",
        "execution_tool",
        "execution_token",
        "execution_complete",
    ]
    assert events[2]["tool_call"] == {
        "id": "tool_001",
        "name": "get_weather",
        "status": "failed",
        "error": "down",
    }
    assert events[-1]["status"] == "completed"
    assert events[-1]["output"] == "The weather service is down; try again later."


async def test_an_agent_that_gives_up_after_a_failed_tool_names_the_tool(
    gateway: GatewayThread,
) -> None:
    async def gives_up(text: str) -> AsyncIterator[AgentEvent]:
        call = ToolCall("get_weather", {"city": "Paris"}, id="tool_001")
        yield call
        yield ToolResult(call, error="down")
        raise RuntimeError("no weather without the tool")

    register(gateway, "gives-up", gives_up)
    async with native(gateway.url) as ws:
        await start_run(ws, "gives-up", "weather?")
        events = await run_events(ws)
    error = events[-1]
    assert error["event"] == "execution_error" and error["status"] == "failed"
    assert error["error"]["code"] == "TOOL_EXECUTION_FAILED"
    assert "down" in error["error"]["message"]
    assert "no weather without the tool" in error["error"]["message"]
    assert error["error"]["details"] == {"tool_name": "get_weather", "tool_call_id": "tool_001"}
    await serves_a_run(gateway.url)


async def test_unknown_agent_and_empty_input_are_refused(gateway: GatewayThread) -> None:
    async with native(gateway.url) as ws:
        await send(ws, {"type": "execute", "agent_id": "nobody", "input": "hi", "ref": 1})
        unknown = await recv(ws)
        await send(ws, {"type": "execute", "agent_id": "echo", "input": "  ", "ref": 2})
        empty = await recv(ws)
        await send(ws, {"type": "execute", "agent_id": "echo", "ref": 3})
        missing = await recv(ws)
    assert unknown["type"] == "error"
    assert unknown["code"] == "unknown_agent"
    assert unknown["ref"] == 1
    assert unknown["details"]["field"] == "agent_id"
    assert "nobody" in unknown["message"]
    assert empty["code"] == "invalid_field"
    assert empty["details"]["field"] == "input"
    assert empty["ref"] == 2
    assert missing["code"] == "invalid_field"
    assert missing["ref"] == 3
    assert "input" in missing["message"]
    await serves_a_run(gateway.url)


async def test_cancel_mid_stream(gateway: GatewayThread) -> None:
    async with native(gateway.url) as ws:
        execution_id = await start_run(ws, "demo-long", "1000@200")
        frames = await until(ws, has_token("t2"))
        await send(ws, {"type": "execution.cancel", "execution_id": execution_id, "ref": "c"})
        frames += await until(ws, run_event("execution_error"))
    replies = [frame for frame in frames if frame["type"] == "execution.cancelled"]
    assert replies == [
        {"type": "execution.cancelled", "execution_id": execution_id, "ok": True, "ref": "c"}
    ]
    error = frames[-1]["data"]
    assert error["status"] == "cancelled"
    assert error["error"]["code"] == "CANCELLED"
    sent = streamed(frame["data"] for frame in frames if frame["type"] == "channel_message")
    count = len(sent.split())
    assert sent == long_output(count)
    assert 3 <= count < 100  # stopped long before its 1,000 tokens
    assert hub_of(gateway).runs.get(execution_id).status == "cancelled"

    async with native(gateway.url) as ws:  # cancelling twice, or a finished run: ok false
        await send(ws, {"type": "execution.cancel", "execution_id": execution_id})
        assert (await recv(ws))["ok"] is False
    await serves_a_run(gateway.url)


async def test_cancel_an_unknown_run(gateway: GatewayThread) -> None:
    async with native(gateway.url) as ws:
        await send(ws, {"type": "execution.cancel", "execution_id": "exec_nope"})
        reply = await recv(ws)
    assert reply == {"type": "execution.cancelled", "execution_id": "exec_nope", "ok": False}
    await serves_a_run(gateway.url)


async def test_cancel_over_the_envelope_dialect(gateway: GatewayThread) -> None:
    from .helpers import envelope

    async with envelope(gateway.url) as ws:
        payload = {"agent_id": "demo-long", "input": "1000@200"}
        await send(ws, {"type": "execute", "id": "x1", "payload": payload})
        start = await recv(ws)
        assert start["type"] == "execution_start"
        execution_id = start["payload"]["execution_id"]
        await send(ws, {"type": "cancel", "id": "c1", "payload": {"execution_id": execution_id}})
        frames = await until(ws, of_type("execution_error"))
    cancelled = [frame for frame in frames if frame["type"] == "cancelled"]
    assert [{k: v for k, v in frame.items() if k != "timestamp"} for frame in cancelled] == [
        {"type": "cancelled", "id": "c1", "payload": {"execution_id": execution_id, "ok": True}}
    ]
    assert all(frame["timestamp"].endswith("Z") for frame in cancelled)
    assert frames[-1]["payload"]["status"] == "cancelled"
    await serves_a_run(gateway.url)
