"""What ends with a session: queued deliveries still run; positions and waiters do not."""

from __future__ import annotations

import asyncio

import pytest
from support import WAIT, Recorder, wait_until

from praison_push.client import AsyncPushClient, ChannelMessage, PushError
from praison_push.client.dispatch import Dispatcher

from .helpers import Connect, Taps, started


async def test_disconnect_drains_queued_messages_to_callbacks_and_streams(
    connect: Connect,
) -> None:
    taps = Taps()
    sub, pub = await connect(transport_factory=taps), await connect()
    release = asyncio.Event()
    by_callback: list[int] = []
    by_handler: list[int] = []

    async def slow(message: ChannelMessage) -> None:
        await release.wait()  # everything piles up in the dispatcher's queue
        by_callback.append(message.data)

    await sub.subscribe("q", slow)
    sub.on("channel_message")(lambda m: by_handler.append(m.data))
    stream = sub.messages("q")
    await stream.start()
    for n in range(20):
        await pub.publish("q", n)
    # Read means queued: the receive loop hands each message on before reading the next.
    await wait_until(
        lambda: len([f for f in taps.last.received if f["type"] == "channel_message"]) == 20
    )
    assert by_callback == []  # the first one is stuck in slow(), the rest wait behind it

    closing = asyncio.ensure_future(sub.disconnect())
    await wait_until(lambda: sub.closed)  # the session ended with the messages still queued
    release.set()
    await asyncio.wait_for(closing, WAIT)
    assert by_callback == list(range(20))
    assert by_handler == list(range(20))
    streamed = [m.data async for m in stream]
    assert streamed == list(range(20))


async def test_a_stopped_dispatcher_keeps_its_callbacks_and_the_next_session_starts_empty() -> None:
    async def ignore() -> None:
        return None

    dispatcher = Dispatcher(on_delivered=lambda _id: None, on_flush=ignore)
    got = Recorder()
    dispatcher.add_callback("a", got)
    dispatcher.start()
    dispatcher.post_message(ChannelMessage(channel="a", data=1))
    drained: list[bool] = []
    dispatcher.stop(lambda: drained.append(got.calls != []))
    assert not dispatcher.has_callbacks("a")
    await dispatcher.wait_stopped(WAIT)
    assert [m.data for m in got.calls] == [1]
    assert drained == [True]
    dispatcher.stop(lambda: drained.append(False))  # no dispatcher running: at once
    assert drained == [True, False]


async def test_reconnect_after_a_fresh_subscribe_does_not_replay_what_was_missed(
    connect: Connect,
) -> None:
    taps = Taps()
    alice = await connect(client_id="alice", transport_factory=taps)
    publisher = await connect()
    got: list[str] = []
    await alice.subscribe("s", lambda m: got.append(m.data))
    await publisher.publish("s", "first")
    await wait_until(lambda: got == ["first"])
    await alice.disconnect()
    for text in ("away-1", "away-2"):
        receipt = await publisher.publish("s", text)
    await alice.connect()
    await alice.subscribe("s", lambda m: got.append(m.data))
    reconnected = Recorder()
    alice.on("connected")(reconnected)
    taps.last.cut()  # a network drop: the client reconnects and resubscribes
    await reconnected.wait()
    await wait_until(lambda: taps.last.sent_of("channel.subscribe") != [])
    (renewed,) = taps.last.sent_of("channel.subscribe")
    # Renewed from the live edge the fresh subscribe started at, not from "first".
    assert renewed["since"]["offset"] == receipt.offset
    await publisher.publish("s", "live")
    await wait_until(lambda: "live" in got)
    assert got == ["first", "live"]


async def test_closed_is_true_only_after_closing_for_good(client: AsyncPushClient) -> None:
    assert not client.closed
    await client.disconnect()
    assert client.closed
    await client.connect()
    assert not client.closed


async def test_unsubscribe_fails_pending_wait_for(client: AsyncPushClient) -> None:
    await client.subscribe("w")
    waiting = await started(client.wait_for("w", timeout=WAIT))
    await client.unsubscribe("w")
    with pytest.raises(PushError, match="unsubscribed"):
        await asyncio.wait_for(waiting, WAIT)
    assert "w" not in client.subscriptions
