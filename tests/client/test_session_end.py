"""What ends with a session: queued deliveries still run; positions and waiters do not."""

from __future__ import annotations

import asyncio

import pytest

from praison_push.client import AsyncPushClient, ChannelMessage, PushError
from praison_push.client.dispatch import Dispatcher

from .helpers import WAIT, Connect, Recorder, wait_until


async def test_disconnect_drains_queued_messages_to_callbacks_and_streams(
    connect: Connect,
) -> None:
    sub, pub = await connect(), await connect()
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
    assert sub._dispatcher._queue is not None
    await wait_until(
        lambda: sub._dispatcher._queue is not None and sub._dispatcher._queue.qsize() >= 19
    )

    closing = asyncio.ensure_future(sub.disconnect())
    await wait_until(lambda: sub.closed)  # the session ended with 19 messages still queued
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
    alice, publisher = await connect(client_id="alice"), await connect()
    got: list[str] = []
    await alice.subscribe("s", lambda m: got.append(m.data))
    await publisher.publish("s", "first")
    await wait_until(lambda: got == ["first"])
    await alice.disconnect()
    for text in ("away-1", "away-2"):
        await publisher.publish("s", text)
    await alice.connect()
    await alice.subscribe("s", lambda m: got.append(m.data))
    assert alice._tracker.position("s") is None or alice._tracker.position("s")[1] >= 2
    reconnected = Recorder()
    alice.on("connected")(reconnected)
    # A network drop (no close frame): the client reconnects and resubscribes.
    alice._transport._ws.transport.abort()  # type: ignore[union-attr, attr-defined]
    await reconnected.wait()
    await wait_until(lambda: alice.is_connected)
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
    waiting = asyncio.ensure_future(client.wait_for("w", timeout=WAIT))
    await wait_until(lambda: "w" in client._waiters)
    await client.unsubscribe("w")
    with pytest.raises(PushError, match="unsubscribed"):
        await asyncio.wait_for(waiting, WAIT)
    assert "w" not in client._waiters
