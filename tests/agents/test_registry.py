"""Registering agents, the praisonaiagents adapter, and the demo agents."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from support import WAIT

from praison_push.agents import (
    DEMO_AGENTS,
    AgentContext,
    AgentRegistry,
    ToolCall,
    ToolResult,
    Usage,
    demo,
    iterate_agent,
    register_demo_agents,
)
from praison_push.agents.praisonai import adapt, is_praisonai_agent


def fake_praisonai_class(**methods: Any) -> type:
    """A class that looks like it comes from the praisonaiagents package."""
    return type("Agent", (), {"__module__": "praisonaiagents.agent.agent", **methods})


async def run(registry: AgentRegistry, name: str, text: str) -> list[Any]:
    spec = registry.get(name)
    assert spec is not None
    context = AgentContext("exec_1", name)
    return [event async for event in iterate_agent(spec, text, context)]


def test_register_decorator_and_lookup() -> None:
    registry = AgentRegistry()

    @registry.agent("shout", description="Shouts.")
    def shout(text: str) -> str:
        return text.upper()

    assert "shout" in registry and len(registry) == 1
    assert registry.names() == ["shout"]
    spec = registry.get("shout")
    assert spec is not None and spec.description == "Shouts."
    registry.unregister("shout")
    assert registry.get("shout") is None


@pytest.mark.parametrize("bad", ["", "$x", "a" * 201])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="agent name"):
        AgentRegistry().register(bad, lambda text: text)


@pytest.mark.parametrize("bad", [42, int])
def test_non_agents_are_refused(bad: Any) -> None:
    with pytest.raises(TypeError, match="an agent must be"):
        AgentRegistry().register("x", bad)


async def test_praisonai_agent_streams_with_iter_stream() -> None:
    cls = fake_praisonai_class(iter_stream=lambda self, text: iter(["a", "b"]))
    agent = cls()
    assert is_praisonai_agent(agent)
    registry = AgentRegistry()
    registry.register("p", agent)
    assert await run(registry, "p", "x") == ["a", "b"]


async def test_a_cancelled_praisonai_run_frees_the_agent_though_its_stream_hangs_on_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The library's clean-up on close may wait on its model connection: the agent's
    next run starts after a bounded wait, not when (or if) that clean-up ends."""
    import threading

    from praison_push.agents import praisonai

    monkeypatch.setattr(praisonai, "CLOSE_WAIT", 0.2)
    release = threading.Event()

    def iter_stream(self: Any, text: str) -> Iterator[str]:
        if text == "again":
            yield "after"
            return
        try:
            while True:
                yield "w "
        finally:
            release.wait(30)  # a close that hangs until the test ends

    agent = fake_praisonai_class(iter_stream=iter_stream)()
    spec = adapt(agent)
    first = spec("talk", AgentContext("exec_1", "p"))
    assert await first.__anext__() == "w "
    await first.aclose()  # what cancelling the run does to the agent's generator

    async def again() -> list[Any]:
        return [event async for event in spec("again", AgentContext("exec_2", "p"))]

    try:
        assert await asyncio.wait_for(again(), WAIT) == ["after"]
    finally:
        release.set()


async def test_praisonai_agent_answers_with_astart_or_start() -> None:
    async def astart(self: Any, text: str) -> str:
        return f"async {text}"

    registry = AgentRegistry()
    registry.register("a", fake_praisonai_class(astart=astart)())
    registry.register("s", fake_praisonai_class(start=lambda self, text: f"sync {text}")())
    assert await run(registry, "a", "x") == ["async x"]
    assert await run(registry, "s", "x") == ["sync x"]


def test_plain_callables_pass_through_the_adapter() -> None:
    def fn(text: str) -> str:
        return text

    assert adapt(fn) is fn
    assert not is_praisonai_agent(fn)


async def test_demo_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "TOKEN_DELAY", 0)
    registry = AgentRegistry()
    register_demo_agents(registry)
    assert set(registry.names()) == set(DEMO_AGENTS)
    assert "".join(await run(registry, "echo", "hello big world")) == "hello big world"

    weather = await run(registry, "demo-weather", "What is the weather in Tokyo?")
    call, result = weather[0], weather[1]
    assert isinstance(call, ToolCall) and call.arguments == {"city": "Tokyo", "unit": "celsius"}
    assert isinstance(result, ToolResult) and result.result == {
        "temperature": 22,
        "condition": "clear",
    }
    text = "".join(e for e in weather if isinstance(e, str))
    assert text == "The weather in Tokyo is currently 22°C and clear."
    assert isinstance(weather[-1], Usage) and weather[-1].completion_tokens > 0
    default_city = await run(registry, "demo-weather", "Weather?")
    assert "Paris" in "".join(e for e in default_city if isinstance(e, str))


async def test_demo_long_paces_and_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = AgentRegistry()
    register_demo_agents(registry)
    events = await run(registry, "demo-long", "50@100000")
    assert [e for e in events if isinstance(e, str)] == [f"t{i} " for i in range(50)]
    assert (await run(registry, "demo-long", '{"tokens": 3, "rate": 100000}'))[:3] == [
        "t0 ",
        "t1 ",
        "t2 ",
    ]
    assert len(await run(registry, "demo-long", "2")) == 3
    with pytest.raises(ValueError, match="demo-long input"):
        await run(registry, "demo-long", "lots")
    with pytest.raises(ValueError, match="rate > 0"):
        await run(registry, "demo-long", "5@0")


async def test_demo_long_stops_when_cancelled() -> None:
    spec = AgentRegistry().register("l", demo.demo_long)
    context = AgentContext("e", "l")
    seen: list[Any] = []
    async for event in iterate_agent(spec, "1000@100000", context):
        seen.append(event)
        if len(seen) == 5:
            context.cancel()
    assert len(seen) == 5


def test_demo_long_default_is_200_tokens() -> None:
    assert demo._long_params("") == (200, 200.0)


async def test_sync_generator_agent_via_registry() -> None:
    registry = AgentRegistry()

    def gen(text: str) -> Iterator[str]:
        yield "x"

    registry.register("g", gen)
    assert await asyncio.wait_for(run(registry, "g", "in"), 5) == ["x"]
