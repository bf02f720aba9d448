"""Agent runs over the in-memory transport: the Execution handle and the client's wiring.

The scripted gateway publishes a run's events in the same batch as the
``execute.accepted`` reply, so every test here also exercises the race the
client must win: events arriving before ``execute()`` has resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from praison_push.client import (
    AsyncPushClient,
    ConnectionClosedError,
    Execution,
    ExecutionEvent,
    ExecutionFailed,
    FrameError,
    PushError,
    RequestRefused,
    TransportError,
)
from praison_push.protocol import ChannelMessage
from praison_push.testing import MemoryTransportFactory, channel_message

from .helpers import FAST_BACKOFF, SHORT, WAIT, Recorder, wait_until
from .runs import WEATHER_RUN, RunGateway

START = {"event": "execution_start", "status": "running"}


@pytest.fixture
def runs() -> RunGateway:
    gateway = RunGateway()
    gateway.script = list(WEATHER_RUN)
    return gateway


@pytest.fixture
def run_factory(runs: RunGateway) -> MemoryTransportFactory:
    return MemoryTransportFactory(responder=runs)


@pytest.fixture
async def client(run_factory: MemoryTransportFactory) -> AsyncIterator[AsyncPushClient]:
    client = AsyncPushClient(
        "ws://gateway.test/ws",
        client_id="runner",
        transport_factory=run_factory,
        request_timeout=WAIT,
        backoff=FAST_BACKOFF,
    )
    await client.connect()
    yield client
    await client.disconnect()


def message(event: str, n: int = 1, /, **fields: Any) -> ChannelMessage:
    """The ``n``-th message of run exec_x's channel, carrying ``event``."""
    data = {"event": event, "execution_id": "exec_x", "agent_id": "a", **fields}
    return ChannelMessage("executions:exec_x", data, f"e{n}", 0.0, None, n, "ep")


# --- ExecutionEvent ------------------------------------------------------------------


def test_event_fields_follow_the_kind() -> None:
    token = ExecutionEvent.from_message(message("execution_token", token="Hi", index=0))
    assert token is not None
    assert (token.kind, token.token, token.index, token.execution_id) == (
        "execution_token",
        "Hi",
        0,
        "exec_x",
    )
    assert (token.tool_call, token.output, token.usage, token.error, token.status) == (None,) * 5
    assert not token.is_terminal
    assert (token.event_id, token.offset, token.count) == ("e1", 1, 1)
    chunk = ExecutionEvent("execution_token", {"token": "a b", "index": 3, "count": 2})
    assert (chunk.count, chunk.index) == (2, 3)
    assert ExecutionEvent("execution_token", {"token": "a", "count": "2"}).count == 1
    assert token.to_dict()["token"] == "Hi" and token.to_dict()["event"] == "execution_token"
    assert str(token) == "token 0: 'Hi'"

    tool = ExecutionEvent("execution_tool", {"tool_call": {"name": "f", "status": "calling"}})
    assert tool.tool_call == {"name": "f", "status": "calling"} and str(tool) == "tool f calling"
    assert tool.token is None and tool.index is None and tool.execution_id is None
    assert tool.count is None

    done = ExecutionEvent(
        "execution_complete", {"status": "completed", "output": "ok", "usage": {"total_tokens": 2}}
    )
    assert (done.output, done.usage, done.status, done.is_terminal) == (
        "ok",
        {"total_tokens": 2},
        "completed",
        True,
    )
    assert str(done) == "completed: ok"

    error = ExecutionEvent(
        "execution_error", {"status": "failed", "error": {"code": "X", "message": "m"}}
    )
    assert error.error == {"code": "X", "message": "m"} and str(error) == "failed: X: m"
    assert str(ExecutionEvent("execution_start", {"status": "running"})) == (
        "execution_start (running)"
    )
    assert str(ExecutionEvent("something_new")) == "something_new"


def test_event_from_a_message_that_is_no_event() -> None:
    for data in (None, "text", {"no": "event"}, {"event": 3}):
        assert ExecutionEvent.from_message(ChannelMessage("executions:x", data)) is None


def test_event_index_ignores_booleans_and_tool_call_must_be_a_mapping() -> None:
    token = ExecutionEvent("execution_token", {"token": "a", "index": True})
    assert token.index is None
    assert ExecutionEvent("execution_tool", {"tool_call": "junk"}).tool_call is None


# --- the handle on its own -------------------------------------------------------------


async def test_handle_records_a_run_as_its_events_arrive() -> None:
    execution = Execution("exec_x")
    assert (execution.agent_id, execution.channel, execution.status) == (
        "",
        "executions:exec_x",
        "running",
    )
    execution._feed(message("execution_start", 1, status="running"))
    assert execution.agent_id == "a"
    call = {"id": "t1", "name": "get_weather", "status": "calling", "arguments": {"city": "P"}}
    execution._feed(message("execution_tool", 2, tool_call=call))
    (recorded,) = execution.tool_calls
    execution._feed(
        message("execution_tool", 3, tool_call={"id": "t1", "status": "completed", "result": 1})
    )
    assert execution.tool_calls == [recorded]  # updated in place, not appended
    assert recorded == {
        "id": "t1",
        "name": "get_weather",
        "status": "completed",
        "arguments": {"city": "P"},
        "result": 1,
    }
    execution._feed(message("execution_tool", 4, tool_call={"name": "anonymous"}))
    execution._feed(message("execution_tool", 5, tool_call={"name": "anonymous"}))
    assert [c["name"] for c in execution.tool_calls] == ["get_weather", "anonymous", "anonymous"]
    execution._feed(message("execution_token", 6, token="Hello ", index=0))
    execution._feed(message("execution_token", 7, token="big world", index=1, count=2))
    assert (execution.output, execution.tokens, execution.token_count, execution.done) == (
        "Hello big world",
        ["Hello ", "big world"],
        3,
        False,
    )
    execution._feed(message("execution_complete", 8, status="completed", output="Hello world!"))
    assert (execution.status, execution.output, execution.done) == (
        "completed",
        "Hello world!",
        True,
    )
    # A finished run's repr and str are its transcript.
    assert (
        repr(execution)
        == str(execution)
        == (
            "✓ a completed · 3 tokens · 3 tool calls\n"
            '⚙ get_weather {"city": "P"} → 1\n'
            "⚙ anonymous {} …\n"
            "⚙ anonymous {} …\n"
            "Hello world!"
        )
    )
    assert (execution.usage, execution.latency_ms) == (None, None)
    assert [e.kind for e in execution.events][-1] == "execution_complete"


async def test_handle_drops_repeats_non_events_and_anything_after_the_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    execution = Execution("exec_x", "a")
    token = message("execution_token", 1, token="x", index=0)
    execution._feed(token)
    execution._feed(token)  # a redelivery or replay
    execution._feed(ChannelMessage("executions:exec_x", "not an event", "e2"))
    execution._feed(message("execution_something_new", 3))
    execution._feed(message("execution_tool", 30))  # no tool_call: recorded, nothing to update
    assert execution.tool_calls == []
    kinds = ["execution_token", "execution_something_new", "execution_tool"]
    assert [e.kind for e in execution.events] == kinds
    execution._feed(message("execution_complete", 4, latency_ms=7.6, usage="junk"))
    execution._feed(message("execution_token", 5, token="late", index=1))
    assert execution.tokens == ["x"] and execution.latency_ms == 8 and execution.usage is None
    assert execution.output == "x"  # no output field: the streamed text stands
    execution._feed(message("execution_complete", 6))
    assert len(execution.events) == 4


async def test_handle_records_failures_and_cancellations() -> None:
    failed = Execution("exec_x")
    failed._feed(
        message(
            "execution_error",
            status="failed",
            error={"code": "TOOL_EXECUTION_FAILED", "message": "boom", "details": {"t": 1}},
        )
    )
    assert (failed.status, failed.error) == (
        "failed",
        {"code": "TOOL_EXECUTION_FAILED", "message": "boom", "details": {"t": 1}},
    )
    with pytest.raises(ExecutionFailed) as caught:
        await failed.result()
    error = caught.value
    assert isinstance(error, PushError)
    assert (error.code, error.message, error.status, error.execution_id, error.details) == (
        "TOOL_EXECUTION_FAILED",
        "boom",
        "failed",
        "exec_x",
        {"t": 1},
    )
    assert str(error) == "TOOL_EXECUTION_FAILED: boom"

    cancelled = Execution("exec_y")
    cancelled._feed(message("execution_error", status="cancelled", error={"code": "CANCELLED"}))
    assert cancelled.status == "cancelled"
    with pytest.raises(ExecutionFailed) as caught:
        await cancelled.result()
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        "cancelled",
        "CANCELLED",
        "",
    )

    odd = Execution("exec_z")
    odd._feed(message("execution_error", status="weird"))
    assert (odd.status, odd.error) == ("failed", {"code": "UNKNOWN", "message": ""})
    with pytest.raises(ExecutionFailed, match="UNKNOWN"):
        await odd.result()


async def test_cancel_needs_a_client_unless_the_run_is_over() -> None:
    execution = Execution("exec_x")
    with pytest.raises(RuntimeError, match="not attached"):
        await execution.cancel()
    execution._feed(message("execution_complete", status="completed", output=""))
    assert await execution.cancel() is False


async def test_every_iterator_sees_every_event_from_the_first() -> None:
    execution = Execution("exec_x")
    execution._feed(message("execution_start", 1, status="running"))

    async def collect() -> list[str]:
        return [event.kind async for event in execution]

    first = asyncio.ensure_future(collect())
    await asyncio.sleep(0)
    execution._feed(message("execution_token", 2, token="a", index=0))
    second = asyncio.ensure_future(collect())
    await asyncio.sleep(0)
    execution._feed(message("execution_complete", 3, status="completed", output="a"))
    kinds = ["execution_start", "execution_token", "execution_complete"]
    assert await asyncio.wait_for(first, WAIT) == kinds
    assert await asyncio.wait_for(second, WAIT) == kinds
    assert await collect() == kinds  # after the end, too


async def test_a_cancelled_wait_for_the_next_event_loses_nothing() -> None:
    execution = Execution("exec_x")
    cursor = execution.__aiter__()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(cursor.__anext__(), SHORT / 4)
    execution._feed(message("execution_token", 1, token="a", index=0))
    event = await asyncio.wait_for(cursor.__anext__(), WAIT)
    assert event.token == "a"
    assert cursor.__aiter__() is cursor
    assert "at 1" in repr(cursor)


async def test_result_and_wait_time_out_without_ending_the_run() -> None:
    execution = Execution("exec_x")
    with pytest.raises(asyncio.TimeoutError, match="still running"):
        await execution.result(timeout=SHORT / 4)
    with pytest.raises(asyncio.TimeoutError):
        await execution.wait(timeout=SHORT / 4)
    execution._feed(message("execution_complete", status="completed", output="done"))
    assert await execution.wait() is execution
    assert await execution.result(timeout=SHORT) == "done"


async def test_a_closed_client_releases_waiters_with_the_close_error() -> None:
    execution = Execution("exec_x")
    execution._feed(message("execution_token", 1, token="a", index=0))
    iterated: list[str] = []

    async def iterate() -> None:
        async for event in execution:
            iterated.append(event.kind)

    iterating = asyncio.ensure_future(iterate())
    waiting = asyncio.ensure_future(execution.result())
    await asyncio.sleep(0)
    execution._fail(ConnectionClosedError(1000, "bye"))
    execution._fail(ConnectionClosedError(1001, "ignored"))
    with pytest.raises(ConnectionClosedError, match="1000"):
        await asyncio.wait_for(waiting, WAIT)
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(iterating, WAIT)
    assert iterated == ["execution_token"]  # what had arrived is still yielded first
    assert not execution.done and execution.status == "running"


async def test_callbacks_get_past_events_then_live_ones(caplog: pytest.LogCaptureFixture) -> None:
    execution = Execution("exec_x")
    execution._feed(message("execution_start", 1, status="running"))
    plain, later = Recorder(), Recorder()
    seen_async: list[str] = []

    async def async_callback(event: ExecutionEvent) -> None:
        seen_async.append(event.kind)

    def broken(event: ExecutionEvent) -> None:
        raise RuntimeError("callback bug")

    assert execution.subscribe(plain) is plain
    execution.subscribe(plain)  # once only
    execution.subscribe(async_callback)
    execution.subscribe(broken)
    assert set(execution.on_event) == {plain, async_callback, broken}
    await plain.wait(1)
    execution._feed(message("execution_token", 2, token="a", index=0))
    execution._feed(message("execution_complete", 3, status="completed", output="a"))
    await plain.wait(3)
    execution.subscribe(later)  # after the end: the whole run is replayed
    await later.wait(3)
    kinds = ["execution_start", "execution_token", "execution_complete"]
    assert [e.kind for e in plain.calls] == [e.kind for e in later.calls] == kinds
    await wait_until(lambda: execution.on_event == ())
    assert seen_async == kinds
    assert "callback bug" in caplog.text or "broken" in caplog.text
    with pytest.raises(TypeError):
        execution.subscribe("nope")  # type: ignore[arg-type]


async def test_unsubscribed_callbacks_stop_and_a_closed_client_ends_them() -> None:
    execution = Execution("exec_x")
    kept, dropped = Recorder(), Recorder()
    execution.subscribe(kept)
    execution.subscribe(dropped)
    execution._feed(message("execution_token", 1, token="a", index=0))
    await kept.wait(1)
    await dropped.wait(1)
    assert execution.unsubscribe(dropped) is True
    assert execution.unsubscribe(dropped) is False
    execution._feed(message("execution_token", 2, token="b", index=1))
    await kept.wait(2)
    execution._fail(ConnectionClosedError(1000))
    await wait_until(lambda: execution.on_event == ())
    assert len(dropped.calls) == 1


async def test_reprs_summarise_and_escape() -> None:
    execution = Execution("exec_x", "demo-weather")
    assert repr(execution) == "<Execution exec_x demo-weather running 0 tokens>"
    assert repr(Execution("exec_y")) == "<Execution exec_y ? running 0 tokens>"
    call = {"id": "t", "name": "<b>tool</b>", "status": "calling", "arguments": {"q": "`x`"}}
    execution._feed(message("execution_tool", 1, tool_call=call))
    execution._feed(message("execution_token", 2, token="<script>alert(1)</script> ``` ", index=0))
    assert repr(execution).endswith("running 1 token>")
    page = execution._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;tool" in page
    markdown = execution._repr_markdown_()
    assert "````text\n<script>alert(1)</script> ``` \n````" in markdown
    assert "`` `x` ``" in markdown or '``{"q":"`x`"}``' in markdown
    execution._feed(
        message("execution_tool", 3, tool_call={"id": "t", "status": "failed", "error": "no"})
    )
    execution._feed(message("execution_error", 4, status="failed",
                            error={"code": "X", "message": "<i>why</i>"}))  # fmt: skip
    assert "&lt;i&gt;why" in execution._repr_html_() and "✗" in execution._repr_html_()
    assert "Error: `X: <i>why</i>`" in execution._repr_markdown_()


async def test_reprs_of_a_completed_run_with_a_long_answer() -> None:
    execution = Execution("exec_x", "a")
    call = {"id": "t", "name": "f", "status": "completed", "arguments": {}, "result": [1]}
    execution._feed(message("execution_tool", 1, tool_call=call))
    execution._feed(
        message("execution_complete", 2, status="completed", output="y" * 5000, latency_ms=9)
    )
    assert "completed, 0 tokens, 1 tool call, 9 ms" in execution._repr_markdown_()
    assert "(1000 more characters)" in execution._repr_html_()
    assert "{} → [1]" in execution._repr_markdown_()
    blank = Execution("exec_y", " ")
    assert "` `" in blank._repr_markdown_()


# --- the client: execute ---------------------------------------------------------------


async def test_execute_sees_events_that_arrive_with_the_reply(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    execution = await client.execute("demo", "Weather?", session_id="s1")
    # The whole run came in the reply's batch, before execute() resumed.
    assert len(execution.events) == len(WEATHER_RUN)
    assert runs.executes[0]["session_id"] == "s1"
    assert (execution.execution_id, execution.agent_id, execution.channel) == (
        "exec_1",
        "demo",
        "executions:exec_1",
    )
    assert await execution.result(timeout=WAIT) == "Sunny in Paris."
    assert execution.tokens == ["Sunny ", "in Paris."]
    assert execution.tool_calls == [
        {"id": "t1", "name": "get_weather", "status": "completed",
         "arguments": {"city": "Paris"}, "result": {"temp": 18}}
    ]  # fmt: skip
    assert execution.usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert execution.latency_ms == 12
    # Finished: the run channel is dropped (and the data kept).
    unsubscribe = await run_factory.last.next_sent("channel.unsubscribe")
    assert unsubscribe["channel"] == "executions:exec_1"
    assert "executions:exec_1" not in client.subscriptions
    assert execution.output == "Sunny in Paris."


async def test_run_channel_is_a_subscription_while_the_run_goes_on(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.script = [START]
    handled = Recorder()
    client.on("channel_message")(handled)
    execution = await client.execute("demo", "go")
    assert execution.channel in client.subscriptions
    runs.emit("exec_1", {"event": "execution_token", "token": "a", "index": 0})
    runs.emit("exec_1", {"event": "execution_complete", "status": "completed", "output": "a"})
    assert await execution.result(timeout=WAIT) == "a"
    # The run's messages go to its handle and are acknowledged; the client-wide
    # ``channel_message`` handler is not flooded with them (PROTOCOL.md §4).
    await wait_until(lambda: run_factory.last.sent_of("message_ack") != [])
    await wait_until(lambda: execution.channel not in client.subscriptions)
    assert handled.calls == []


async def test_a_run_channel_subscribed_by_the_user_stays_subscribed(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.script = [START]
    received = Recorder()
    execution = await client.execute("demo", "go")
    await client.subscribe(execution.channel, received)
    runs.emit("exec_1", {"event": "execution_complete", "status": "completed", "output": ""})
    await execution.wait(WAIT)
    await received.wait(1)
    assert execution.channel in client.subscriptions
    assert run_factory.last.sent_of("channel.unsubscribe") == []


async def test_execute_checks_its_arguments(client: AsyncPushClient) -> None:
    with pytest.raises(ValueError, match="agent_id"):
        await client.execute("", "x")
    with pytest.raises(TypeError, match="input"):
        await client.execute("demo", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="session_id"):
        await client.execute("demo", "x", session_id="")


async def test_execute_refused_by_the_gateway(client: AsyncPushClient, runs: RunGateway) -> None:
    runs.refuse["execute"] = ("unknown_agent", "No agent with ID 'nope' exists")
    with pytest.raises(RequestRefused) as caught:
        await client.execute("nope", "x")
    assert caught.value.code == "unknown_agent"
    assert client.subscriptions == frozenset()


async def test_an_accepted_reply_without_an_id_fails_execute(
    client: AsyncPushClient, run_factory: MemoryTransportFactory, runs: RunGateway
) -> None:
    runs.hold.add("execute")
    task = asyncio.ensure_future(client.execute("demo", "x"))
    sent = await run_factory.last.next_sent("execute")
    run_factory.last.feed({"type": "execute.accepted", "ref": sent["ref"]})
    with pytest.raises(FrameError, match="execution_id"):
        await asyncio.wait_for(task, WAIT)


async def test_the_channel_defaults_from_the_execution_id(
    client: AsyncPushClient, run_factory: MemoryTransportFactory, runs: RunGateway
) -> None:
    runs.hold.add("execute")
    task = asyncio.ensure_future(client.execute("demo", "x"))
    sent = await run_factory.last.next_sent("execute")
    run_factory.last.feed({"type": "execute.accepted", "execution_id": "e9", "ref": sent["ref"]})
    execution = await asyncio.wait_for(task, WAIT)
    assert execution.channel == "executions:e9"


async def test_execute_is_not_sent_again_after_a_drop(
    client: AsyncPushClient, run_factory: MemoryTransportFactory, runs: RunGateway
) -> None:
    runs.hold.add("execute")
    task = asyncio.ensure_future(client.execute("demo", "x"))
    await run_factory.last.next_sent("execute")
    run_factory.last.close(1012, "restart")
    with pytest.raises(TransportError, match="not sent again"):
        await asyncio.wait_for(task, WAIT)
    second = await run_factory.wait_for_transport(1)
    await wait_until(lambda: client.is_connected)
    assert second.sent_of("execute") == []
    assert len(runs.executes) == 0  # held: the gateway never answered


async def test_execute_made_while_reconnecting_is_sent_once_connected(
    run_factory: MemoryTransportFactory, runs: RunGateway
) -> None:
    run_factory.connect_errors = [None, TransportError("down"), None]
    client = AsyncPushClient(
        "ws://gateway.test/ws", transport_factory=run_factory, request_timeout=WAIT,
        backoff=FAST_BACKOFF,
    )  # fmt: skip
    reconnecting = Recorder()
    client.on("reconnecting")(reconnecting)
    await client.connect()
    try:
        run_factory.last.close(None)
        await reconnecting.wait(1)
        execution = await client.execute("demo", "x")
        assert await execution.result(timeout=WAIT) == "Sunny in Paris."
        assert len(runs.executes) == 1
    finally:
        await client.disconnect()


async def test_cancel_asks_the_gateway_and_waits_for_the_end(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.script = [START]
    execution = await client.execute("demo", "x")
    assert await execution.cancel() is True
    assert execution.status == "cancelled" and execution.done
    sent = run_factory.last.sent_of("execution.cancel")
    assert [frame["execution_id"] for frame in sent] == ["exec_1"]
    assert await execution.cancel() is False  # over: nothing sent
    assert len(run_factory.last.sent_of("execution.cancel")) == 1


async def test_cancel_refused_leaves_the_run_going(
    client: AsyncPushClient, runs: RunGateway
) -> None:
    runs.script = [START]
    runs.cancel_ok = False
    execution = await client.execute("demo", "x")
    assert await execution.cancel() is False
    assert execution.status == "running"


async def test_cancel_gives_up_waiting_for_the_end_after_the_request_timeout(
    run_factory: MemoryTransportFactory, runs: RunGateway, caplog: pytest.LogCaptureFixture
) -> None:
    runs.script = [START]
    client = AsyncPushClient(
        "ws://gateway.test/ws", transport_factory=run_factory, request_timeout=SHORT
    )
    await client.connect()
    try:
        execution = await client.execute("demo", "x")
        runs.cancel_ok = False  # the gateway says yes but never ends the run
        runs.hold.add("execution.cancel")
        cancelling = asyncio.ensure_future(execution.cancel())
        sent = await run_factory.last.next_sent("execution.cancel")
        reply = {"type": "execution.cancelled", "execution_id": "exec_1", "ok": True}
        run_factory.last.feed({**reply, "ref": sent["ref"]})
        with caplog.at_level(logging.INFO, logger="praison_push.client"):
            assert await asyncio.wait_for(cancelling, WAIT) is True
        assert execution.status == "running"
        assert "no terminal event" in caplog.text
    finally:
        await client.disconnect()


async def test_disconnect_releases_whoever_waits_on_a_run(
    client: AsyncPushClient, runs: RunGateway
) -> None:
    runs.script = [START]
    execution = await client.execute("demo", "x")
    waiting = asyncio.ensure_future(execution.result())
    await asyncio.sleep(0)
    await client.disconnect()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(waiting, WAIT)


# --- the client: reconnects ----------------------------------------------------------------


async def test_a_run_is_resubscribed_from_where_it_was_after_a_drop(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.script = [START, {"event": "execution_token", "token": "a", "index": 0}]
    execution = await client.execute("demo", "x")
    first = run_factory.last
    first.close(1012, "restart")
    # Published while the client was away: replayed after the resubscribe.
    runs.emit("exec_1", {"event": "execution_token", "token": "b", "index": 1})
    second = await run_factory.wait_for_transport(1)
    subscribe = await second.next_sent("channel.subscribe")
    assert subscribe["since"] == {"offset": 2, "epoch": "memory-1"}
    runs.emit("exec_1", {"event": "execution_complete", "status": "completed", "output": "ab"})
    assert await execution.result(timeout=WAIT) == "ab"
    assert execution.tokens == ["a", "b"] and not execution.gap


async def test_a_run_not_heard_from_yet_is_replayed_from_its_first_event(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.script = []
    execution = await client.execute("demo", "x")
    run_factory.last.close(1012, "restart")
    runs.emit("exec_1", START)
    runs.emit("exec_1", {"event": "execution_complete", "status": "completed", "output": ""})
    second = await run_factory.wait_for_transport(1)
    history = await second.next_sent("channel.history")
    assert (history["channel"], history["limit"]) == ("executions:exec_1", 1)
    subscribe = await second.next_sent("channel.subscribe")
    assert subscribe["since"] == {"offset": 0, "epoch": "memory-1"}
    await execution.wait(WAIT)
    assert [e.kind for e in execution.events] == ["execution_start", "execution_complete"]


async def test_a_run_the_gateway_lost_ends_as_failed(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.script = [START]
    execution = await client.execute("demo", "x")
    runs.hold.add("channel.subscribe")
    run_factory.last.close(1012, "restart")
    second = await run_factory.wait_for_transport(1)
    subscribe = await second.next_sent("channel.subscribe")
    second.feed(
        {"type": "channel.subscribed", "channel": execution.channel, "ok": True, "offset": 0,
         "epoch": "new-epoch", "recovered": False, "ref": subscribe["ref"]}
    )  # fmt: skip
    with pytest.raises(ExecutionFailed) as caught:
        await execution.result(timeout=WAIT)
    assert caught.value.code == "EXECUTION_LOST" and execution.gap


async def test_a_gap_in_a_run_is_flagged(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.script = [START]
    execution = await client.execute("demo", "x")
    runs.hold.add("channel.subscribe")
    run_factory.last.close(1012, "restart")
    second = await run_factory.wait_for_transport(1)
    subscribe = await second.next_sent("channel.subscribe")
    second.feed(
        {"type": "channel.subscribed", "channel": execution.channel, "ok": True, "offset": 50,
         "epoch": "memory-1", "recovered": False, "ref": subscribe["ref"]}
    )  # fmt: skip
    await wait_until(lambda: execution.gap)
    assert execution.status == "running"


# --- the client: attach ----------------------------------------------------------------------


async def test_attach_replays_a_finished_run_from_its_first_event(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    for data in WEATHER_RUN:
        runs.emit("exec_old", data, agent_id="demo-weather")
    execution = await client.attach("exec_old")
    assert execution.agent_id == "demo-weather"  # known from the history peek
    history = await run_factory.last.next_sent("channel.history")
    assert history["limit"] == 1
    subscribe = await run_factory.last.next_sent("channel.subscribe")
    assert subscribe["since"] == {"offset": 0, "epoch": "memory-1"}
    assert await execution.result(timeout=WAIT) == "Sunny in Paris."
    assert [e.offset for e in execution.events] == list(range(1, len(WEATHER_RUN) + 1))
    await run_factory.last.next_sent("channel.unsubscribe")
    # Attached again after it ended: replayed again, though the client saw these ids.
    again = await client.attach("exec_old")
    assert again is not execution
    assert await again.result(timeout=WAIT) == "Sunny in Paris."
    assert len(again.events) == len(WEATHER_RUN)


async def test_attach_returns_the_handle_of_a_run_already_watched(
    client: AsyncPushClient, runs: RunGateway
) -> None:
    runs.script = [START]
    execution = await client.execute("demo", "x")
    assert await client.attach("exec_1") is execution


async def test_attach_to_a_run_without_events_yet_waits_for_them(
    client: AsyncPushClient, runs: RunGateway
) -> None:
    execution = await client.attach("exec_new")
    assert execution.agent_id == ""
    runs.emit("exec_new", START, agent_id="late")
    await wait_until(lambda: execution.agent_id == "late")


async def test_concurrent_attaches_share_one_handle(client: AsyncPushClient) -> None:
    first, second = await asyncio.gather(client.attach("exec_a"), client.attach("exec_a"))
    assert first is second


async def test_attach_refused_forgets_the_run(client: AsyncPushClient, runs: RunGateway) -> None:
    with pytest.raises(ValueError):
        await client.attach("")
    with pytest.raises(ValueError):
        await client.attach("bad name")
    runs.refuse["channel.subscribe"] = ("forbidden", "another organisation's run")
    with pytest.raises(RequestRefused, match="forbidden"):
        await client.attach("exec_theirs")
    assert client.subscriptions == frozenset()
    del runs.refuse["channel.subscribe"]
    runs.emit("exec_theirs", START)
    execution = await client.attach("exec_theirs")
    await wait_until(lambda: len(execution.events) == 1)


async def test_attach_needs_the_history_epoch(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.hold.add("channel.history")
    task = asyncio.ensure_future(client.attach("exec_x"))
    sent = await run_factory.last.next_sent("channel.history")
    run_factory.last.feed({"type": "channel.history", "messages": "junk", "ref": sent["ref"]})
    with pytest.raises(FrameError, match="epoch"):
        await asyncio.wait_for(task, WAIT)


async def test_events_delivered_by_a_redelivery_reach_the_run_once(
    client: AsyncPushClient, runs: RunGateway, run_factory: MemoryTransportFactory
) -> None:
    runs.script = [START]
    execution = await client.execute("demo", "x")
    (frame,) = runs.published["executions:exec_1"]
    run_factory.last.feed({**frame, "_redelivered": True, "_retry_count": 1})
    done = channel_message(
        execution.channel,
        {"event": "execution_complete", "execution_id": "exec_1", "status": "completed"},
        event_id="done",
        offset=2,
    )
    run_factory.last.feed(done)
    await execution.wait(WAIT)
    assert [e.kind for e in execution.events] == ["execution_start", "execution_complete"]


async def test_a_malformed_history_reply_on_resubscribe_is_logged_not_raised(
    client: AsyncPushClient,
    runs: RunGateway,
    run_factory: MemoryTransportFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs.script = []
    execution = await client.execute("demo", "x")
    runs.hold.add("channel.history")
    run_factory.last.close(1012, "restart")
    second = await run_factory.wait_for_transport(1)
    history = await second.next_sent("channel.history")
    second.feed({"type": "channel.history", "ref": history["ref"]})  # no epoch
    await wait_until(lambda: "resubscribing to 'executions:exec_1' failed" in caplog.text)
    assert execution.channel in client.subscriptions  # kept, for the next reconnect
