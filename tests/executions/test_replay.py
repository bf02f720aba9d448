"""Replaying a run from its channel's history, and resuming a watch without gaps."""

from __future__ import annotations

from praison_push.server import GatewayThread

from .helpers import (
    RUN_END,
    has_token,
    long_output,
    native,
    normal_native,
    of_type,
    recv,
    run_events,
    send,
    streamed,
    until,
)
from .helpers import execute as start_run


async def test_a_late_watcher_replays_the_whole_run(gateway: GatewayThread) -> None:
    async with native(gateway.url) as ws:
        execution_id = await start_run(ws, "demo-weather", "Weather in Tokyo?")
        live = await run_events(ws)

    async with native(gateway.url) as late:
        channel = f"executions:{execution_id}"
        await send(late, {"type": "channel.subscribe", "channel": channel, "ref": "w"})
        frames = await until(late, RUN_END)

    subscribed, messages = frames[0], frames[1:]
    assert subscribed["type"] == "channel.subscribed"
    assert subscribed["recovered"] is True
    assert all(message["type"] == "channel_message" for message in messages)
    assert [message["offset"] for message in messages] == list(range(1, len(messages) + 1))
    assert subscribed["offset"] == len(messages)
    replay = [message["data"] for message in messages]
    assert replay == live
    assert replay[0]["event"] == "execution_start"
    assert replay[-1]["event"] == "execution_complete"
    assert streamed(replay) == "The weather in Tokyo is currently 22°C and clear."
    assert normal_native(replay)[-1] == (
        "complete",
        "The weather in Tokyo is currently 22°C and clear.",
    )


async def test_a_watcher_joining_mid_run_gets_the_start_then_the_rest(
    gateway: GatewayThread,
) -> None:
    async with native(gateway.url) as runner, native(gateway.url) as watcher:
        execution_id = await start_run(runner, "demo-long", "40@400")
        await until(runner, has_token("t10"))
        await send(watcher, {"type": "channel.subscribe", "channel": f"executions:{execution_id}"})
        frames = await until(watcher, RUN_END)
        assert frames[0]["type"] == "channel.subscribed"
        events = [frame["data"] for frame in frames[1:]]
    assert events[0]["event"] == "execution_start"
    assert streamed(events) == long_output(40)
    assert events[-1]["event"] == "execution_complete"


async def test_resume_after_a_disconnect_misses_nothing_and_repeats_nothing(
    gateway: GatewayThread,
) -> None:
    async with native(gateway.url) as runner:
        execution_id = await start_run(runner, "demo-long", "200@400")
        channel = f"executions:{execution_id}"

        async with native(gateway.url) as watcher:
            await send(watcher, {"type": "channel.subscribe", "channel": channel})
            first = await until(
                watcher,
                lambda frame: frame.get("type") == "channel_message" and frame["offset"] >= 30,
            )
        before = [frame for frame in first if frame["type"] == "channel_message"]
        last = before[-1]
        # The run goes on while the watcher is away.
        await until(runner, has_token("t120"))

        async with native(gateway.url) as watcher:
            since = {"offset": last["offset"], "epoch": last["epoch"]}
            await send(watcher, {"type": "channel.subscribe", "channel": channel, "since": since})
            rest = await until(watcher, RUN_END)
        subscribed, after = rest[0], rest[1:]
        assert subscribed["type"] == "channel.subscribed"
        assert subscribed["recovered"] is True

    seen = before + after
    assert [frame["offset"] for frame in seen] == list(range(1, len(seen) + 1))
    assert len({frame["event_id"] for frame in seen}) == len(seen)
    events = [frame["data"] for frame in seen]
    assert events[0]["event"] == "execution_start"
    assert events[-1]["event"] == "execution_complete"
    assert streamed(events) == long_output(200)
    assert events[-1]["output"] == long_output(200)


async def test_history_of_a_run(gateway: GatewayThread) -> None:
    async with native(gateway.url) as ws:
        execution_id = await start_run(ws, "echo", "one two three")
        live = await run_events(ws)
        await send(ws, {"type": "channel.history", "channel": f"executions:{execution_id}"})
        reply = (await until(ws, of_type("channel.history")))[-1]
        await send(ws, {"type": "ping", "id": 1})
        assert (await recv(ws))["type"] == "pong"
    assert [message["data"] for message in reply["messages"]] == live
