"""A real ``praisonaiagents.Agent`` on a real gateway, talking over HTTP to the local
fake model: its tokens, its tool call (name, arguments, result, duration), a
failing tool, usage, conversations and cancellation reach an ``Execution``.

(praisonaiagents' own OpenAI path cannot be made to close its model stream on
cancel: its generator leaves the SDK stream to the garbage collector. The run
ends at once all the same; ``ChatAgent`` is the one that hangs up, see
tests/agents/test_openai_e2e.py.)"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import praisonaiagents  # a dev dependency (pyproject.toml): missing, the tests fail
import pytest
from support import WAIT, wait_until

from praison_push.client import AsyncPushClient, ExecutionFailed
from praison_push.server import GatewayThread
from praison_push.testing import FakeModelServer, ModelTurn


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"18°C and partly cloudy in {city}"


def explode(x: int) -> str:
    """A tool that fails."""
    raise ValueError("the tool exploded")


@pytest.fixture(scope="module")
def model_server() -> Iterator[FakeModelServer]:
    # praisonaiagents imports the OpenAI SDK at its first model call (seconds on a
    # busy machine): import it here, so no test's bounded wait pays for it.
    importlib.import_module("openai")  # a dev dependency: missing, the test fails
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def fake_openai(model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> FakeModelServer:
    """praisonaiagents' OpenAI path talks to the fake model (no litellm needed)."""
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    model_server.model.requests.clear()
    return model_server


def make_agent(*tools: Any) -> Any:
    return praisonaiagents.Agent(
        name="weather",
        instructions="You answer weather questions.",
        model="fake-model",
        tools=list(tools),
        output="silent",
    )


def register(gateway: GatewayThread, name: str, agent: Any) -> None:
    assert gateway.gateway is not None
    hub = gateway.gateway.hub
    gateway.call(lambda: hub.agents.register(name, agent))


async def test_tokens_and_a_tool_call_stream_into_an_execution(
    gateway: GatewayThread, fake_openai: FakeModelServer
) -> None:
    fake_openai.model.add(
        ModelTurn.call("get_weather", {"city": "Paris"}, id="call_w1"),
        ModelTurn.say("It is 18°C and partly cloudy in Paris."),
    )
    register(gateway, "weather", make_agent(get_weather))
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("weather", "Weather in Paris?")
        assert await run.result(WAIT) == "It is 18°C and partly cloudy in Paris."
    kinds = [event.kind for event in run.events]
    assert kinds[0] == "execution_start" and kinds[-1] == "execution_complete"
    assert kinds.index("execution_tool") < kinds.index(
        "execution_token"
    )  # the call, then the answer
    (call,) = run.tool_calls
    assert (call["id"], call["name"], call["status"]) == ("call_w1", "get_weather", "completed")
    assert call["arguments"] == {"city": "Paris"}
    assert call["result"] == "18°C and partly cloudy in Paris"
    assert isinstance(call["duration_ms"], float) and call["duration_ms"] >= 0
    assert len(run.tokens) >= 1 and run.token_count > 1  # streamed, not one answer
    assert run.usage is not None and run.usage["total_tokens"] > 0
    # The model saw the tool's result before it answered.
    follow_up = fake_openai.model.requests[-1]["messages"]
    assert follow_up[-1] == {
        "role": "tool",
        "tool_call_id": "call_w1",
        "content": "18°C and partly cloudy in Paris",
    }


async def test_a_failing_tool_ends_the_run_as_a_tool_failure(
    gateway: GatewayThread, fake_openai: FakeModelServer
) -> None:
    fake_openai.model.add(ModelTurn.call("explode", {"x": 1}, id="call_x"))
    register(gateway, "fragile", make_agent(explode))
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("fragile", "go")
        with pytest.raises(ExecutionFailed) as caught:
            await run.result(WAIT)
    assert caught.value.code == "TOOL_EXECUTION_FAILED"
    (call,) = run.tool_calls
    assert (call["status"], call["name"]) == ("failed", "explode")
    assert "the tool exploded" in call["error"]


async def test_a_conversation_continues_with_its_own_turns(
    gateway: GatewayThread, fake_openai: FakeModelServer
) -> None:
    fake_openai.model.add(ModelTurn.say("Hello Ada."), ModelTurn.say("You are Ada."))
    register(gateway, "chatty", make_agent())
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        first = await client.execute("chatty", "I am Ada.", session_id="s-ada")
        assert await first.result(WAIT) == "Hello Ada."
        second = await client.execute("chatty", "Who am I?", session_id="s-ada")
        assert await second.result(WAIT) == "You are Ada."
    told = [(m["role"], m["content"]) for m in fake_openai.model.requests[-1]["messages"]]
    assert told[-3:] == [("user", "I am Ada."), ("assistant", "Hello Ada."), ("user", "Who am I?")]


async def test_cancelling_stops_the_run_and_the_agent_stream(
    gateway: GatewayThread, fake_openai: FakeModelServer
) -> None:
    words = " ".join(f"w{index}" for index in range(200))
    fake_openai.model.add(ModelTurn.say(words, delay=0.02), ModelTurn.say("after"))
    register(gateway, "slow", make_agent())
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("slow", "talk")
        await wait_until(lambda: run.token_count >= 3, what="some tokens")
        assert await run.cancel() is True
        assert run.status == "cancelled"
        tokens_at_cancel = run.token_count
        # The agent's thread stopped pulling the library's stream at its next piece, so
        # the agent (whose runs take turns) is free for the next run at once.
        again = await client.execute("slow", "again")
        assert await again.result(WAIT) == "after"
    assert run.token_count == tokens_at_cancel  # nothing after the cancel
    assert run.output.split() == words.split()[: len(run.output.split())]
