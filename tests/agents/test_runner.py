"""Every kind of agent becomes the same stream of events."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from praison_push.agents import (
    AgentContext,
    AgentEvent,
    AgentSpec,
    AgentTypeError,
    ToolCall,
    ToolResult,
    Usage,
    iterate_agent,
)


def ctx() -> AgentContext:
    return AgentContext("exec_1", "a", session_id="s", user_id="u")


async def collect(
    fn: Any, text: str = "hi there", context: AgentContext | None = None
) -> list[Any]:
    spec = AgentSpec.of("a", fn)
    return [event async for event in iterate_agent(spec, text, context or ctx())]


async def test_plain_function_returning_text_is_one_token() -> None:
    assert await collect(lambda text: text.upper()) == ["HI THERE"]


async def test_function_returning_none_yields_nothing() -> None:
    assert await collect(lambda text: None) == []


async def test_function_returning_other_value_is_stringified() -> None:
    assert await collect(lambda text: 42) == ["42"]


async def test_coroutine_function_gets_context_when_it_asks() -> None:
    async def agent(text: str, context: AgentContext) -> str:
        return f"{context.execution_id}:{context.session_id}:{text}"

    assert await collect(agent) == ["exec_1:s:hi there"]


async def test_sync_generator_runs_off_the_event_loop() -> None:
    threads: list[str] = []

    def agent(text: str) -> Iterator[AgentEvent]:
        threads.append(threading.current_thread().name)
        call = ToolCall("t", {"x": 1})
        yield call
        yield ToolResult(call, 2)
        yield from text.split()
        yield Usage(1, 2)

    events = await collect(agent)
    assert events[2:4] == ["hi", "there"]
    assert isinstance(events[0], ToolCall) and isinstance(events[1], ToolResult)
    assert events[1].status == "completed" and events[-1].total_tokens == 3
    assert threads and threads[0] != threading.current_thread().name


async def test_async_generator_streams_in_order() -> None:
    async def agent(text: str) -> AsyncIterator[str]:
        for word in text.split():
            yield word
            await asyncio.sleep(0)

    assert await collect(agent) == ["hi", "there"]


async def test_function_returning_iterables_and_async_iterables() -> None:
    async def gen() -> AsyncIterator[str]:
        yield "a"

    assert await collect(lambda text: iter(["x", "y"])) == ["x", "y"]
    assert await collect(lambda text: gen()) == ["a"]

    async def returns_awaitable(text: str) -> Any:
        async def inner() -> str:
            return "late"

        return inner()

    assert await collect(returns_awaitable) == ["late"]


async def test_cancelled_sync_generator_stops_pulling() -> None:
    context = ctx()
    pulled: list[int] = []

    def agent(text: str) -> Iterator[str]:
        for index in range(1000):
            pulled.append(index)
            yield str(index)

    spec = AgentSpec.of("a", agent)
    seen = []
    async for event in iterate_agent(spec, "x", context):
        seen.append(event)
        if len(seen) == 3:
            context.cancel()
    assert len(seen) == 3 and len(pulled) <= 4


def test_non_callable_is_refused() -> None:
    with pytest.raises(AgentTypeError, match="must be callable"):
        AgentSpec.of("a", 42)  # type: ignore[arg-type]


def test_context_detection_handles_builtins_and_varargs() -> None:
    assert AgentSpec.of("a", print).wants_context is True  # *args
    assert AgentSpec.of("a", str).wants_context is False
    assert AgentSpec.of("a", lambda text: text).wants_context is False
    assert AgentSpec.of("a", lambda text, c: text).wants_context is True


def test_usage_and_tool_result_helpers() -> None:
    assert Usage(3, 4).to_dict() == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    failed = ToolResult(ToolCall("t"), error="down")
    assert failed.status == "failed"
    assert ToolCall("t").id.startswith("tool_")


def test_an_optional_second_parameter_is_not_the_context_slot() -> None:
    def agent(prompt: str, model: str = "gpt-4o") -> str:
        return model

    assert AgentSpec.of("a", agent).wants_context is False
