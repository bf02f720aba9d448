"""``ChatAgent`` end to end: a real gateway, the local fake model over real HTTP.

Tokens, reasoning, a tool call with its arguments streamed, the tool run, the
final answer and usage — the same events over native WS, envelope, agent-chat
and SSE; a conversation's turns; a tool that needs approval; cancelling closes
the model's HTTP stream within a second (the fake server sees the hang-up).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support import WAIT, dial, wait_until

from praison_push.agents import requires_approval
from praison_push.agents.openai import ChatAgent
from praison_push.client import AsyncPushClient, ExecutionFailed
from praison_push.server import GatewayThread
from praison_push.testing import FakeModelServer, ModelTurn

from .helpers import (
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

PARIS = {"city": "Paris", "unit": "celsius"}
ANSWER = "It is 18°C and partly cloudy in Paris."


def get_weather(city: str, unit: str = "celsius") -> dict[str, Any]:
    """Get the current weather for a city.

    Args:
        city: The city.
        unit: celsius or fahrenheit.
    """
    return {"temperature": 18, "condition": "partly cloudy", "city": city, "unit": unit}


@requires_approval
def delete_file(path: str) -> str:
    """Delete a file."""
    return f"deleted {path}"


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


def weather_script() -> list[ModelTurn]:
    return [
        ModelTurn(
            reasoning="The user wants the weather.",
            tool_calls=(
                # Arguments in 6-character pieces: several deltas per call.
                ModelTurn.call("get_weather", PARIS, id="call_w", chunk=6).tool_calls[0],
            ),
        ),
        ModelTurn.say(ANSWER, usage={"prompt_tokens": 40, "completion_tokens": 12}),
    ]


def agent_on(model: FakeModelServer, **options: Any) -> ChatAgent:
    options.setdefault("tools", [get_weather])
    return ChatAgent("fake-model", base_url=model.base_url, api_key="sk-test", **options)


async def test_a_run_streams_tokens_reasoning_and_a_tool_call(
    gateway: GatewayThread, model: FakeModelServer
) -> None:
    model.model.add(*weather_script())
    register(gateway, "weather", agent_on(model))
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("weather", "Weather in Paris?")
        assert await run.result(WAIT) == ANSWER
    assert run.reasoning == "The user wants the weather."
    (call,) = run.tool_calls
    assert (call["id"], call["name"], call["status"]) == ("call_w", "get_weather", "completed")
    assert json.loads(call["arguments_text"]) == PARIS  # streamed piece by piece
    assert call["arguments"] == PARIS
    assert call["result"] == {**get_weather("Paris"), "unit": "celsius"}
    assert call["duration_ms"] >= 0
    deltas = [e for e in run.events if e.kind == "execution_tool_call_delta"]
    assert deltas and all(e.data["name"] == "get_weather" for e in deltas)
    # Usage of both model calls (the second's counts were scripted; the first counts 1).
    assert run.usage == {"prompt_tokens": 50, "completion_tokens": 13, "total_tokens": 63}
    # The model was offered the tool and got its result back, as the API says.
    first, second = model.model.requests
    (offered,) = first["tools"]
    assert offered["function"]["name"] == "get_weather"
    assert offered["function"]["parameters"]["required"] == ["city"]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    tool_message = second["messages"][-1]
    assert (tool_message["role"], tool_message["tool_call_id"]) == ("tool", "call_w")
    assert json.loads(tool_message["content"])["temperature"] == 18


async def _over_every_transport(gateway: GatewayThread, model: FakeModelServer) -> list[Any]:
    runs: list[list[Normal]] = []
    model.model.add(*weather_script())
    async with native(gateway.url) as ws:
        await start_run(ws, "weather", "Weather in Paris?")
        runs.append(normal_native(await run_events(ws)))
    model.model.add(*weather_script())
    async with envelope(gateway.url) as ws:
        payload = {"agent_id": "weather", "input": "Weather in Paris?"}
        await send(ws, {"type": "execute", "id": "r", "payload": payload})
        runs.append(normal_envelope(await until(ws, of_type("execution_complete"))))
    model.model.add(*weather_script())
    async with dial(gateway.url + "?protocol=agent-chat") as ws:
        await recv(ws)
        await send(ws, {"type": "chat", "agent_id": "weather", "message": "Weather in Paris?"})
        runs.append(normal_agent_chat(await until(ws, of_type("agent_done"))))
    model.model.add(*weather_script())
    _, _, events = await sse_run(gateway.http_url, "weather", {"input": "Weather in Paris?"})
    runs.append(normal_sse(events))
    return runs


async def test_the_same_events_over_every_transport(
    gateway: GatewayThread, model: FakeModelServer
) -> None:
    register(gateway, "weather", agent_on(model))
    runs = await _over_every_transport(gateway, model)

    def shape(run: list[Normal]) -> list[Any]:
        """Text joined per kind (chunking may differ run to run), everything else as is."""
        out: list[Any] = []
        for kind, value in run:
            if kind == "arguments":
                value = value[1]
            if out and out[-1][0] == kind and kind in ("token", "reasoning", "arguments"):
                out[-1] = (kind, out[-1][1] + value)
            else:
                out.append((kind, value))
        return out

    expected = [
        ("start", "weather"),
        ("reasoning", "The user wants the weather."),
        ("arguments", json.dumps(PARIS)),
        ("tool_call", {"name": "get_weather", "arguments": PARIS}),
        ("tool_result", {"name": "get_weather", "status": "completed",
                         "result": {**get_weather("Paris")}}),
        ("token", ANSWER),
        ("complete", ANSWER),
    ]  # fmt: skip
    assert [shape(run) for run in runs] == [expected] * 4


async def test_a_conversation_sends_its_earlier_turns(
    gateway: GatewayThread, model: FakeModelServer
) -> None:
    model.model.add(ModelTurn.say("Hello Ada."), ModelTurn.say("You are Ada."))
    register(gateway, "chat", agent_on(model, tools=[], system="Be brief."))
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        await (await client.execute("chat", "I am Ada.", session_id="s1")).result(WAIT)
        second = await client.execute("chat", "Who am I?", session_id="s1")
        assert await second.result(WAIT) == "You are Ada."
    assert model.model.requests[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "Who am I?"},
    ]
    assert "tools" not in model.model.requests[-1]


async def test_a_tool_error_is_shown_to_the_model_which_goes_on(
    gateway: GatewayThread, model: FakeModelServer
) -> None:
    model.model.add(
        ModelTurn.call("get_weather", {"town": "Paris"}, id="c_bad"),  # a wrong argument name
        ModelTurn.call("nowhere", {}, id="c_unknown"),
        ModelTurn.call("get_weather", "{not json", id="c_json"),
        ModelTurn.say("Sorry."),
    )
    register(gateway, "weather", agent_on(model))
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("weather", "Weather?")
        assert await run.result(WAIT) == "Sorry."
    errors = {call["id"]: call["error"] for call in run.tool_calls}
    assert all(call["status"] == "failed" for call in run.tool_calls)
    assert "invalid arguments" in errors["c_bad"] and "city" in errors["c_bad"]
    assert "no tool named 'nowhere'" in errors["c_unknown"]
    assert "not valid JSON" in errors["c_json"]
    told = [m for m in model.model.requests[1]["messages"] if m["role"] == "tool"]
    assert told[0]["content"].startswith("Error: invalid arguments")


async def test_a_tool_marked_for_approval_waits_for_the_requester(
    gateway: GatewayThread, model: FakeModelServer
) -> None:
    model.model.add(
        ModelTurn.call("delete_file", {"path": "/tmp/a"}, id="c_del"),
        ModelTurn.say("Deleted."),
        ModelTurn.call("delete_file", {"path": "/etc"}, id="c_del2"),
        ModelTurn.say("I did not delete it."),
    )
    register(gateway, "files", agent_on(model, tools=[delete_file]))
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("files", "delete /tmp/a")
        await wait_until(lambda: run.pending_approvals, what="the approval request")
        assert run.pending_approvals[0]["arguments"] == {"path": "/tmp/a"}
        assert await client.approve(run.execution_id, "c_del", True)
        assert await run.result(WAIT) == "Deleted."
        assert run.tool_calls[0]["result"] == "deleted /tmp/a"

        denied = await client.execute("files", "delete /etc")
        await wait_until(lambda: denied.pending_approvals, what="the second request")
        assert await denied.approve("c_del2", False, "not /etc")
        assert await denied.result(WAIT) == "I did not delete it."
    assert denied.tool_calls[0]["error"] == "denied by the user: not /etc"
    told = model.model.requests[-1]["messages"][-1]
    assert told == {
        "role": "tool",
        "tool_call_id": "c_del2",
        "content": "Error: denied by the user: not /etc",
    }


async def test_cancel_closes_the_model_stream_within_a_second(
    gateway: GatewayThread, model: FakeModelServer
) -> None:
    words = " ".join(f"w{index}" for index in range(500))
    model.model.add(ModelTurn.say(words, delay=0.01))
    register(gateway, "slow", agent_on(model, tools=[]))
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("slow", "talk")
        await wait_until(lambda: run.token_count >= 5, what="tokens")
        asked = time.monotonic()
        assert await run.cancel()
        await wait_until(lambda: model.model.hangups, what="the fake model seeing the hang-up")
    assert model.model.hangups[0] - asked < 1.0
    assert run.status == "cancelled"


@pytest.mark.parametrize(
    ("turn", "code", "words"),
    [
        (ModelTurn.fail(404, "model 'fake-model' not found"), "MODEL_NOT_FOUND", "HTTP 404"),
        (ModelTurn.fail(400, "bad request"), "MODEL_ERROR", "HTTP 400"),
    ],
)
async def test_http_failures_end_the_run_with_a_clear_code(
    gateway: GatewayThread, model: FakeModelServer, turn: ModelTurn, code: str, words: str
) -> None:
    model.model.add(turn)
    register(gateway, "failing", agent_on(model, tools=[], max_retries=0))
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("failing", "hi")
        with pytest.raises(ExecutionFailed) as caught:
            await run.result(WAIT)
    assert caught.value.code == code
    assert words in caught.value.message and "127.0.0.1" in caught.value.message
    assert "sk-test" not in caught.value.message


async def test_a_wrong_key_is_refused_without_showing_it(gateway: GatewayThread) -> None:
    from praison_push.testing import FakeModel

    with FakeModelServer(FakeModel(api_key="sk-right")) as server:
        agent = ChatAgent("fake-model", base_url=server.base_url, api_key="sk-wrong-secret")
        register(gateway, "locked", agent)
        async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
            run = await client.execute("locked", "hi")
            with pytest.raises(ExecutionFailed) as caught:
                await run.result(WAIT)
    assert caught.value.code == "MODEL_UNAUTHORIZED"
    assert "sk-wrong-secret" not in caught.value.message
    assert "sk-wrong-secret" not in repr(agent)


async def test_an_unreachable_server_is_unavailable(gateway: GatewayThread) -> None:
    with FakeModelServer() as server:
        dead = server.base_url
    agent = ChatAgent("m", base_url=dead, max_retries=0, timeout=2)
    register(gateway, "gone", agent)
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("gone", "hi")
        with pytest.raises(ExecutionFailed) as caught:
            await asyncio.wait_for(run.result(), WAIT)
    assert caught.value.code == "MODEL_UNAVAILABLE"
    assert "could not reach model 'm' at 127.0.0.1" in caught.value.message
