"""The agent-chat dialect (the agent framework guide) over a raw websockets client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from support import dial

from praison_push.agents import AgentContext
from praison_push.server import GatewayThread

from .helpers import (
    ANSWER,
    QUESTION,
    TOKEN_A,
    TOKEN_A2,
    WEATHER_CALL,
    WEATHER_RESULT,
    Frame,
    normal_agent_chat,
    of_type,
    recv,
    register,
    send,
    until,
)

DONE = of_type("agent_done", "error")


async def test_connect_subscribe_chat(gateway: GatewayThread) -> None:
    async with dial(gateway.url + "?protocol=agent-chat") as ws:
        connected = await recv(ws)
        assert connected["type"] == "connected"
        assert isinstance(connected["client_id"], str) and connected["client_id"]

        await send(ws, {"type": "subscribe", "agent_id": "demo-weather"})
        assert await recv(ws) == {"type": "subscribed", "agent_id": "demo-weather"}

        await send(ws, {"type": "chat", "agent_id": "demo-weather", "message": QUESTION})
        frames = await until(ws, DONE)

    agent = {"agent_id": "demo-weather"}
    assert frames[0] == {"type": "agent_thinking", **agent}
    tools = [frame for frame in frames if frame["type"] == "tool_update"]
    assert tools == [
        {
            "type": "tool_update",
            **agent,
            "tool_name": "get_weather",
            "status": "calling",
            "arguments": WEATHER_CALL["arguments"],  # the guide's update, with what we know
        },
        {
            "type": "tool_update",
            **agent,
            "tool_name": "get_weather",
            "status": "completed",
            "result": WEATHER_RESULT,
        },
    ]
    chunks = [frame for frame in frames if frame["type"] == "stream_chunk"]
    assert all(chunk["agent_id"] == "demo-weather" for chunk in chunks)
    assert [chunk["done"] for chunk in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1]["chunk"] == ""
    assert "".join(chunk["chunk"] for chunk in chunks) == ANSWER
    assert frames[-3:] == [
        chunks[-1],
        {"type": "response", **agent, "message": ANSWER},
        {"type": "agent_done", **agent},
    ]
    # The subscription to the agent and the chat's own watch give one copy, not two.
    assert [kind for kind, _ in normal_agent_chat(frames)].count("complete") == 1
    assert len(chunks) == len(ANSWER.split(" ")) + 1


async def test_first_frame_picks_the_dialect(gateway: GatewayThread) -> None:
    async with dial(gateway.url) as ws:
        assert (await recv(ws))["type"] == "connected"  # greeted before any frame
        await send(ws, {"type": "chat", "agent_id": "echo", "message": "hello there"})
        frames = await until(ws, DONE)
    assert frames[0]["type"] == "agent_thinking"
    assert frames[-2] == {"type": "response", "agent_id": "echo", "message": "hello there"}


async def test_subscribe_errors(gateway: GatewayThread) -> None:
    async with dial(gateway.url + "?protocol=agent-chat") as ws:
        await recv(ws)
        await send(ws, {"type": "subscribe", "agent_id": "unknown_agent"})
        error = await recv(ws)
        assert error["type"] == "error"
        assert error["message"] == "No agent with ID 'unknown_agent' exists"

        await send(ws, {"type": "subscribe"})
        error = await recv(ws)
        assert error["type"] == "error"
        assert error["message"] == "No agent_id provided for subscription"

        await send(ws, {"type": "subscribe", "agent_id": ""})
        assert (await recv(ws))["message"] == "No agent_id provided for subscription"


async def test_chat_errors(gateway: GatewayThread) -> None:
    async with dial(gateway.url + "?protocol=agent-chat") as ws:
        await recv(ws)
        await send(ws, {"type": "chat", "agent_id": "nobody", "message": "hi"})
        error = await recv(ws)
        assert error["type"] == "error"
        assert "No agent with ID 'nobody' exists" in error["message"]

        await send(ws, {"type": "chat", "agent_id": "echo"})
        error = await recv(ws)
        assert error["type"] == "error"
        assert "input" in error["message"]

        await send(ws, {"type": "dance"})
        error = await recv(ws)
        assert error["type"] == "error"
        assert error["message"]


async def test_ping_answers_ping(gateway: GatewayThread) -> None:
    async with dial(gateway.url + "?protocol=agent-chat") as ws:
        await recv(ws)
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "ping"}


async def test_a_failing_agent_gives_error(gateway: GatewayThread) -> None:
    async def broken(text: str) -> str:
        raise RuntimeError("model unavailable")

    register(gateway, "broken", broken)
    async with dial(gateway.url + "?protocol=agent-chat") as ws:
        await recv(ws)
        await send(ws, {"type": "chat", "agent_id": "broken", "message": "hi"})
        frames = await until(ws, DONE)
    assert frames[0] == {"type": "agent_thinking", "agent_id": "broken"}
    assert frames[-1]["type"] == "error"
    assert frames[-1]["message"] == "Error processing message: model unavailable"


async def paced_echo(text: str) -> AsyncIterator[str]:
    """Echoes word by word, yielding the loop between words so concurrent runs interleave."""
    words = text.split(" ")
    for index, word in enumerate(words):
        yield word if index == len(words) - 1 else word + " "
        await asyncio.sleep(0.002)


def chunks_of(frames: list[Frame]) -> str:
    return "".join(frame["chunk"] for frame in frames if frame["type"] == "stream_chunk")


async def test_concurrent_conversations_each_get_only_their_own_stream(
    gateway: GatewayThread,
) -> None:
    """Issue 9, fix 1: two conversations chatting with one agent at once do not
    interleave, and subscribing to the agent does not show other people's chats."""
    register(gateway, "paced", paced_echo)
    alpha = "alpha one two three four five six seven"
    beta = "beta gamma delta epsilon zeta eta theta iota"
    async with (
        dial(gateway.url + "/a") as a,
        dial(gateway.url + "/b") as b,
        dial(gateway.url + "/c") as onlooker,
    ):
        for ws in (a, b, onlooker):
            assert (await recv(ws))["type"] == "connected"
            await send(ws, {"type": "subscribe", "agent_id": "paced"})
            assert await recv(ws) == {"type": "subscribed", "agent_id": "paced"}
        await send(a, {"type": "chat", "agent_id": "paced", "message": alpha})
        await send(b, {"type": "chat", "agent_id": "paced", "message": beta})
        mine, theirs = await asyncio.gather(until(a, DONE), until(b, DONE))
        await send(onlooker, {"type": "ping"})
        seen = await until(onlooker, of_type("ping"))
    agent = {"agent_id": "paced"}
    for frames, text in ((mine, alpha), (theirs, beta)):
        assert frames[0] == {"type": "agent_thinking", **agent}
        assert chunks_of(frames) == text
        assert [frame["type"] for frame in frames].count("agent_thinking") == 1
        assert frames[-2:] == [
            {"type": "response", **agent, "message": text},
            {"type": "agent_done", **agent},
        ]
    assert seen == [{"type": "ping"}], seen


async def test_connections_of_one_conversation_share_its_stream(gateway: GatewayThread) -> None:
    """Another connection of the same conversation that subscribed to the agent sees
    the chat; one of another conversation, or one that did not subscribe, does not."""
    async with (
        dial(gateway.url + "/shared") as asker,
        dial(gateway.url + "/shared") as mate,
        dial(gateway.url + "/shared") as quiet,
        dial(gateway.url + "/elsewhere") as stranger,
    ):
        for ws in (asker, mate, quiet, stranger):
            assert (await recv(ws))["type"] == "connected"
        for ws in (mate, stranger):
            await send(ws, {"type": "subscribe", "agent_id": "demo-weather"})
            assert (await recv(ws))["type"] == "subscribed"
        await send(asker, {"type": "chat", "agent_id": "demo-weather", "message": QUESTION})
        mine = await until(asker, DONE)
        shared = await until(mate, DONE)
        for ws in (quiet, stranger):
            await send(ws, {"type": "ping"})
            assert await until(ws, of_type("ping")) == [{"type": "ping"}]
    assert shared == mine
    assert mine[-2] == {"type": "response", "agent_id": "demo-weather", "message": ANSWER}


async def test_a_plain_connection_sees_only_its_own_chats(gateway: GatewayThread) -> None:
    """On ``/ws`` (no conversation), subscribing shows nobody else's chats."""
    async with (
        dial(gateway.url + "?protocol=agent-chat") as asker,
        dial(gateway.url + "?protocol=agent-chat") as watcher,
    ):
        await recv(asker)
        await recv(watcher)
        await send(watcher, {"type": "subscribe", "agent_id": "demo-weather"})
        assert (await recv(watcher))["type"] == "subscribed"
        await send(asker, {"type": "chat", "agent_id": "demo-weather", "message": QUESTION})
        await until(asker, DONE)
        await send(watcher, {"type": "chat", "agent_id": "echo", "message": "only mine"})
        frames = await until(watcher, DONE)
    assert frames[0] == {"type": "agent_thinking", "agent_id": "echo"}
    assert chunks_of(frames) == "only mine"


async def test_session_path_keeps_the_conversation(gateway: GatewayThread) -> None:
    seen: list[list[dict[str, Any]]] = []

    async def recall(text: str, ctx: AgentContext) -> str:
        seen.append(list(ctx.history))
        return f"{len(ctx.history)} earlier turns; session {ctx.session_id}"

    register(gateway, "recall", recall)
    url = gateway.url + "/sess_xyz789"
    async with dial(url) as ws:
        assert (await recv(ws))["type"] == "connected"
        await send(ws, {"type": "chat", "agent_id": "recall", "message": "first question"})
        first = await until(ws, DONE)
        await send(ws, {"type": "chat", "agent_id": "recall", "message": "second question"})
        second = await until(ws, DONE)
    assert first[-2]["message"] == "0 earlier turns; session sess_xyz789"
    assert second[-2]["message"] == "2 earlier turns; session sess_xyz789"
    assert seen[1] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "0 earlier turns; session sess_xyz789"},
    ]

    # Another connection to the same session continues it; another session starts afresh.
    async with dial(url) as again, dial(gateway.url + "/sess_other") as fresh:
        await recv(again)
        await recv(fresh)
        await send(again, {"type": "chat", "agent_id": "recall", "message": "third"})
        assert (await until(again, DONE))[-2]["message"].startswith("4 earlier turns")
        await send(fresh, {"type": "chat", "agent_id": "recall", "message": "hello"})
        assert (await until(fresh, DONE))[-2]["message"] == "0 earlier turns; session sess_other"


async def test_subscriptions_to_two_agents_both_hold(gateway: GatewayThread) -> None:
    async with (
        dial(gateway.url + "/together") as watcher,
        dial(gateway.url + "/together") as asker,
    ):
        await recv(watcher)
        await recv(asker)
        for agent in ("echo", "demo-weather"):
            await send(watcher, {"type": "subscribe", "agent_id": agent})
            assert (await recv(watcher))["type"] == "subscribed"
        await send(asker, {"type": "chat", "agent_id": "echo", "message": "hi"})
        await until(asker, DONE)
        await send(asker, {"type": "chat", "agent_id": "demo-weather", "message": QUESTION})
        await until(asker, DONE)
        await send(watcher, {"type": "ping"})
        frames = await until(watcher, of_type("ping"))
    assert {"type": "response", "agent_id": "echo", "message": "hi"} in frames
    assert {"type": "response", "agent_id": "demo-weather", "message": ANSWER} in frames


async def test_a_conversation_is_its_users_own(orgs: GatewayThread) -> None:
    """Another user's connection naming the same ``/ws/{session_id}`` is another
    conversation: it does not see the chat (conversations are per user)."""
    path = orgs.url + "/sess_same?protocol=agent-chat&token="
    async with (
        dial(path + TOKEN_A) as asker,
        dial(path + TOKEN_A) as mine,
        dial(path + TOKEN_A2) as colleague,
    ):
        for ws in (asker, mine, colleague):
            assert (await recv(ws))["type"] == "connected"
        for ws in (mine, colleague):
            await send(ws, {"type": "subscribe", "agent_id": "echo"})
            assert (await recv(ws))["type"] == "subscribed"
        await send(asker, {"type": "chat", "agent_id": "echo", "message": "private words"})
        await until(asker, DONE)
        assert chunks_of(await until(mine, DONE)) == "private words"
        await send(colleague, {"type": "ping"})
        assert await until(colleague, of_type("ping")) == [{"type": "ping"}]
