"""Agent runs over the in-memory transport: the client's wiring of run handles.

The scripted gateway publishes a run's events in the same batch as the
``execute.accepted`` reply, so every test here also exercises the race the
client must win: events arriving before ``execute()`` has resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from support import SHORT, WAIT, Recorder, wait_until

from praison_push.client import (
    AsyncPushClient,
    ConnectionClosedError,
    ExecutionFailed,
    FrameError,
    RequestRefused,
    TransportError,
)
from praison_push.testing import MemoryTransportFactory, channel_message

from .helpers import FAST_BACKOFF, started
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
    waiting = await started(execution.result())
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
