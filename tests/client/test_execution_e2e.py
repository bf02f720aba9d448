"""Agent runs end to end: AsyncPushClient against a real gateway and its demo agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from support import WAIT, Recorder, wait_until

from praison_push.client import (
    Backoff,
    Execution,
    ExecutionEvent,
    ExecutionFailed,
    RequestRefused,
)
from praison_push.server import GatewayThread

from .helpers import Connect

WEATHER_ANSWER = "The weather in Paris is currently 18°C and partly cloudy."


@pytest.fixture
def e2e_backoff() -> Backoff:
    """``connect``'s clients reconnect sooner here than in the conftest's default."""
    return Backoff(initial=0.005, maximum=0.05)


def gateway_subscriptions(gateway: GatewayThread, client_id: str) -> set[str]:
    """The channels the gateway has ``client_id``'s connections subscribed to."""
    assert gateway.gateway is not None
    hub = gateway.gateway.hub

    def read() -> set[str]:
        return {
            name
            for session in hub.connections.values()
            if session.client_id == client_id
            for name in session.subscriptions
        }

    result: set[str] = gateway.call(read)
    return result


def drop_connection(gateway: GatewayThread, client_id: str) -> None:
    """Close ``client_id``'s connection from the gateway with 1001 (the client reconnects)."""
    assert gateway.gateway is not None
    hub = gateway.gateway.hub

    def close() -> int:
        sessions = [s for s in hub.connections.values() if s.client_id == client_id]
        for session in sessions:
            session.close(1001, "going away (test)")
        return len(sessions)

    assert gateway.call(close) == 1


def token_indices(execution: Execution) -> list[int | None]:
    return [event.index for event in execution.events if event.kind == "execution_token"]


def assert_tokens_complete(execution: Execution, count: int) -> None:
    """Each token event once, in order, and together every agent token.

    The gateway may send tokens an agent yields quickly as one event (with a
    ``count``), so events are checked by their indices and the text by content.
    """
    assert token_indices(execution) == list(range(len(execution.tokens)))
    assert execution.token_count == count
    assert sum(e.count or 0 for e in execution.events) == count


def long_answer(count: int) -> str:
    """What ``demo-long`` streams for ``count`` tokens."""
    return "".join(f"t{index} " for index in range(count))


async def test_demo_weather_result_tokens_tool_calls_and_usage(connect: Connect) -> None:
    client = await connect()
    execution = await client.execute("demo-weather", "Weather in Paris?")
    assert execution.execution_id.startswith("exec_")
    assert execution.channel == f"executions:{execution.execution_id}"
    assert await execution.result(timeout=WAIT) == WEATHER_ANSWER
    assert (execution.status, execution.done, execution.agent_id) == (
        "completed",
        True,
        "demo-weather",
    )
    assert "".join(execution.tokens) == WEATHER_ANSWER
    assert_tokens_complete(execution, 10)
    assert execution.tool_calls == [
        {
            "id": "tool_001",
            "name": "get_weather",
            "status": "completed",
            "arguments": {"city": "Paris", "unit": "celsius"},
            "result": {"temperature": 18, "condition": "partly cloudy"},
        }
    ]
    assert execution.usage is not None and execution.usage["total_tokens"] == (
        execution.usage["prompt_tokens"] + execution.usage["completion_tokens"]
    )
    assert isinstance(execution.latency_ms, int) and execution.error is None
    lines = repr(execution).splitlines()  # a finished run reads as its transcript
    assert lines[0].startswith("✓ demo-weather completed · 10 tokens · 1 tool call · ")
    assert lines[1].startswith('⚙ get_weather {"city": "Paris", "unit": "celsius"} → ')
    assert lines[2] == execution.output and lines[3].startswith("usage: ")


async def test_events_arrive_in_order(connect: Connect) -> None:
    client = await connect()
    execution = await client.execute("demo-weather", "Weather in Tokyo?")
    events = [event async for event in execution]
    kinds = [event.kind for event in events]
    assert kinds == [
        "execution_start",
        "execution_tool",
        "execution_tool",
        *["execution_token"] * len(execution.tokens),
        "execution_complete",
    ]
    assert [e.tool_call["status"] for e in events if e.tool_call] == ["calling", "completed"]
    assert_tokens_complete(execution, 9)
    offsets = [event.offset for event in events]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert events[-1].output == "The weather in Tokyo is currently 22°C and clear."


async def test_two_iterators_each_see_the_whole_run(connect: Connect) -> None:
    client = await connect()
    execution = await client.execute("echo", "one two three four")

    async def collect() -> list[ExecutionEvent]:
        return [event async for event in execution]

    first, second = await asyncio.wait_for(asyncio.gather(collect(), collect()), WAIT)
    assert first == second == execution.events
    assert "".join(e.token for e in first if e.token is not None) == "one two three four"


async def test_attach_after_the_end_replays_everything_in_order(
    connect: Connect, gateway: GatewayThread
) -> None:
    runner, watcher = await connect(), await connect()
    original = await runner.execute("demo-weather", "Weather in London?")
    await original.result(timeout=WAIT)
    replayed = await watcher.attach(original.execution_id)
    assert await replayed.result(timeout=WAIT) == original.output
    assert [e.event_id for e in replayed.events] == [e.event_id for e in original.events]
    assert replayed.tool_calls == original.tool_calls and replayed.usage == original.usage
    assert replayed.agent_id == "demo-weather" and not replayed.gap
    # Finished runs leave no subscription behind, on either side.
    await wait_until(
        lambda: original.channel not in gateway_subscriptions(gateway, runner.client_id)
    )
    await wait_until(
        lambda: original.channel not in gateway_subscriptions(gateway, watcher.client_id)
    )
    assert original.channel not in runner.subscriptions | watcher.subscriptions


async def test_attach_while_running_then_the_rest_arrives_live(connect: Connect) -> None:
    runner, watcher = await connect(), await connect()
    original = await runner.execute("demo-long", "60@300")
    await wait_until(lambda: len(original.tokens) >= 5)
    attached = await watcher.attach(original.execution_id)
    await attached.result(timeout=WAIT)
    await original.result(timeout=WAIT)
    assert_tokens_complete(attached, 60)
    assert attached.tokens == original.tokens and attached.output == long_answer(60)


async def test_a_reconnect_mid_run_loses_and_repeats_nothing(
    connect: Connect, gateway: GatewayThread
) -> None:
    # Away for 50 ms: the run (400 tokens/s) publishes ~20 tokens the client must recover.
    away = Backoff(initial=0.05, maximum=0.05, jitter=0.0)
    client = await connect(client_id="watcher-across-drops", backoff=away)
    lifecycle = Recorder()
    client.on("disconnected")(lambda payload: lifecycle(("disconnected", payload["code"])))
    client.on("connected")(lambda payload: lifecycle(("connected", None)))
    execution = await client.execute("demo-long", "200@400")
    await wait_until(lambda: len(execution.tokens) >= 20)
    drop_connection(gateway, client.client_id)
    await lifecycle.wait(1)
    missed_from = execution.token_count
    await lifecycle.wait(2)
    assert lifecycle.calls[:2] == [("disconnected", 1001), ("connected", None)]
    assert await execution.result(timeout=WAIT) == long_answer(200)
    assert "".join(execution.tokens) == long_answer(200)
    assert_tokens_complete(execution, 200)
    assert not execution.gap
    assert missed_from < 190  # the drop really was mid-run
    assert [e.kind for e in execution.events].count("execution_start") == 1


async def test_an_agent_that_raises_fails_the_run(connect: Connect, gateway: GatewayThread) -> None:
    assert gateway.gateway is not None

    async def broken(text: str) -> AsyncIterator[str]:
        yield "partial "
        raise RuntimeError("the model is unavailable")

    gateway.gateway.hub.agents.register("broken", broken)
    client = await connect()
    execution = await client.execute("broken", "hello")
    with pytest.raises(ExecutionFailed) as caught:
        await execution.result(timeout=WAIT)
    error = caught.value
    assert (error.code, error.message, error.status, error.execution_id) == (
        "AGENT_FAILED",
        "the model is unavailable",
        "failed",
        execution.execution_id,
    )
    assert execution.status == "failed" and execution.tokens == ["partial "]
    assert execution.error == {"code": "AGENT_FAILED", "message": "the model is unavailable"}


async def test_unknown_agent_and_empty_input_are_refused(connect: Connect) -> None:
    client = await connect()
    with pytest.raises(RequestRefused) as unknown:
        await client.execute("no-such-agent", "hello")
    assert unknown.value.code == "unknown_agent"
    with pytest.raises(RequestRefused) as empty:
        await client.execute("echo", "   ")
    assert empty.value.code == "invalid_field"
    assert client.subscriptions == frozenset()


async def test_cancel_mid_stream(connect: Connect, gateway: GatewayThread) -> None:
    client = await connect()
    execution = await client.execute("demo-long", "1000@200")
    await wait_until(lambda: len(execution.tokens) >= 3)
    assert await execution.cancel() is True
    assert execution.status == "cancelled" and execution.done
    with pytest.raises(ExecutionFailed) as caught:
        await execution.result()
    assert (caught.value.code, caught.value.status) == ("CANCELLED", "cancelled")
    assert execution.token_count < 1000
    assert await execution.cancel() is False
    await wait_until(
        lambda: execution.channel not in gateway_subscriptions(gateway, client.client_id)
    )


async def test_callbacks_follow_a_live_run(connect: Connect) -> None:
    client = await connect()
    execution = await client.execute("demo-weather", "Weather in Paris?")
    seen = Recorder()
    execution.subscribe(seen)
    await execution.result(timeout=WAIT)
    await seen.wait(len(execution.events))
    assert seen.calls == execution.events
