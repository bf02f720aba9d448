"""One run, four transports: native WS, envelope WS, agent-chat WS and SSE carry the
same tokens, the same tool call and the same output."""

from __future__ import annotations

from collections.abc import AsyncIterator

from support import dial

from praison_push.agents import AgentEvent, ToolCall, ToolResult
from praison_push.server import GatewayThread

from .helpers import (
    ANSWER,
    QUESTION,
    RUN_END,
    WEATHER_CALL,
    WEATHER_RESULT,
    Normal,
    envelope,
    native,
    normal_agent_chat,
    normal_envelope,
    normal_native,
    normal_sse,
    of_type,
    recv,
    register,
    run_events,
    send,
    sse_run,
    until,
)
from .helpers import execute as start_run


async def over_native(gateway: GatewayThread, agent_id: str, text: str) -> list[Normal]:
    async with native(gateway.url) as ws:
        await start_run(ws, agent_id, text)
        return normal_native(await run_events(ws))


async def over_envelope(gateway: GatewayThread, agent_id: str, text: str) -> list[Normal]:
    async with envelope(gateway.url) as ws:
        payload = {"agent_id": agent_id, "input": text, "stream": True}
        await send(ws, {"type": "execute", "id": "req", "payload": payload})
        return normal_envelope(await until(ws, of_type("execution_complete", "execution_error")))


async def over_agent_chat(gateway: GatewayThread, agent_id: str, text: str) -> list[Normal]:
    async with dial(gateway.url + "?protocol=agent-chat") as ws:
        await recv(ws)
        await send(ws, {"type": "chat", "agent_id": agent_id, "message": text})
        frames = await until(ws, of_type("agent_done", "error"))
    if frames[-1]["type"] == "error":
        return [*normal_agent_chat(frames), ("error", frames[-1]["code"])]
    return normal_agent_chat(frames)


async def over_sse(gateway: GatewayThread, agent_id: str, text: str, **body: str) -> list[Normal]:
    _, _, events = await sse_run(gateway.http_url, agent_id, {"input": text, **body})
    return normal_sse(events)


async def test_demo_weather_is_the_same_everywhere(gateway: GatewayThread) -> None:
    runs = {
        "native": await over_native(gateway, "demo-weather", QUESTION),
        "envelope": await over_envelope(gateway, "demo-weather", QUESTION),
        "agent-chat": await over_agent_chat(gateway, "demo-weather", QUESTION),
        "sse": await over_sse(gateway, "demo-weather", QUESTION),
    }
    expected: list[Normal] = [
        ("start", "demo-weather"),
        ("tool_call", WEATHER_CALL),
        ("tool_result", {"name": "get_weather", "status": "completed", "result": WEATHER_RESULT}),
        *[("token", token) for token in _words(ANSWER)],
        ("complete", ANSWER),
    ]
    assert runs["native"] == expected
    assert runs["envelope"] == expected
    assert runs["sse"] == expected
    # The guide's tool_update names the tool and its result, but no arguments.
    assert runs["agent-chat"] == expected


async def test_a_failing_tool_is_the_same_everywhere(gateway: GatewayThread) -> None:
    async def flaky(text: str) -> AsyncIterator[AgentEvent]:
        yield "Checking "
        call = ToolCall("lookup", {"q": text}, id="tool_9")
        yield call
        yield ToolResult(call, error="down")
        raise RuntimeError("gave up")  # a failed tool alone would not end the run

    register(gateway, "flaky", flaky)
    runs = [
        await over_native(gateway, "flaky", "x"),
        await over_envelope(gateway, "flaky", "x"),
        await over_sse(gateway, "flaky", "x"),
        await over_agent_chat(gateway, "flaky", "x"),
    ]
    expected: list[Normal] = [
        ("start", "flaky"),
        ("token", "Checking "),
        ("tool_call", {"name": "lookup", "arguments": {"q": "x"}}),
        ("tool_result", {"name": "lookup", "status": "failed", "result": None}),
        ("error", "TOOL_EXECUTION_FAILED"),
    ]
    assert runs == [expected] * 4  # agent-chat's tool_update carries the arguments too


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + words[-1:]


async def test_one_run_watched_over_every_transport_looks_the_same(
    gateway: GatewayThread,
) -> None:
    """One run, started over SSE in a conversation and watched through each dialect's
    agent feed (agent-chat: from a connection of that conversation): the same
    events, however a fast agent's tokens were grouped into chunks."""

    async def burst(text: str) -> AsyncIterator[AgentEvent]:
        call = ToolCall("search", {"q": text}, id="tool_1")
        yield call
        yield ToolResult(call, ["a", "b"])
        for index in range(60):  # faster than any watcher needs: tokens may be coalesced
            yield f"w{index} "

    register(gateway, "burst", burst)
    feed = {"channel": "executions", "filters": {"agent_id": "burst"}}
    async with (
        native(gateway.url) as native_ws,
        envelope(gateway.url) as envelope_ws,
        dial(gateway.url + "/sess_burst?protocol=agent-chat") as chat_ws,
    ):
        await send(native_ws, {"type": "channel.subscribe", **feed})
        assert (await recv(native_ws))["type"] == "channel.subscribed"
        await send(envelope_ws, {"type": "subscribe", "id": "s", "payload": feed})
        assert (await recv(envelope_ws))["type"] == "subscribed"
        await recv(chat_ws)
        await send(chat_ws, {"type": "subscribe", "agent_id": "burst"})
        assert (await recv(chat_ws))["type"] == "subscribed"

        sse = await over_sse(gateway, "burst", "query", session_id="sess_burst")
        native_frames = await until(native_ws, RUN_END)
        envelope_frames = await until(envelope_ws, of_type("execution_complete"))
        chat_frames = await until(chat_ws, of_type("agent_done"))

    output = "".join(f"w{index} " for index in range(60))
    assert sse[:3] == [
        ("start", "burst"),
        ("tool_call", {"name": "search", "arguments": {"q": "query"}}),
        ("tool_result", {"name": "search", "status": "completed", "result": ["a", "b"]}),
    ]
    assert "".join(value for kind, value in sse if kind == "token") == output
    assert sse[-1] == ("complete", output)
    assert (
        normal_native(
            frame["data"] for frame in native_frames if frame["type"] == "channel_message"
        )
        == sse
    )
    assert normal_envelope(envelope_frames) == sse
    assert normal_agent_chat(chat_frames) == sse
