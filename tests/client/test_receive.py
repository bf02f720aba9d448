"""The receive path: dispatch, de-duplication, acknowledgements, handler isolation."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from support import WAIT, Recorder, wait_until

from praison_push.client import AsyncPushClient, ChannelMessage
from praison_push.testing import (
    MemoryTransport,
    MemoryTransportFactory,
    ScriptedGateway,
    channel_message,
    greeting,
)


def acked_ids(factory: MemoryTransportFactory) -> list[str]:
    return [i for frame in factory.last.sent_of("message_ack") for i in frame["event_ids"]]


async def test_channel_message_reaches_callbacks_and_handlers_as_channel_message(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    callback, handler = Recorder(), Recorder()
    client.on("channel_message")(handler)
    await client.subscribe("alerts", callback)
    factory.last.feed(
        channel_message(
            "alerts", {"level": "high"}, event_id="e1", offset=4, source="pub", timestamp=12.5
        )
    )
    (message,) = await callback.wait()
    assert message == ChannelMessage(
        channel="alerts",
        data={"level": "high"},
        event_id="e1",
        timestamp=12.5,
        source="pub",
        offset=4,
        epoch="memory-1",
    )
    assert await handler.wait() == [message]


async def test_async_and_sync_handlers_both_run_in_order(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    seen: list[tuple[str, object]] = []
    done = asyncio.Event()

    @client.on("channel_message")
    def sync_handler(message: ChannelMessage) -> None:
        seen.append(("sync", message.data))

    @client.on("channel_message")
    async def async_handler(message: ChannelMessage) -> None:
        await asyncio.sleep(0)
        seen.append(("async", message.data))
        if message.data == 3:
            done.set()

    for n in (1, 2, 3):
        factory.last.feed(channel_message("a", n, event_id=f"e{n}"))
    await asyncio.wait_for(done.wait(), WAIT)
    assert seen == [(kind, n) for n in (1, 2, 3) for kind in ("sync", "async")]


async def test_redelivered_event_is_handled_once_but_acknowledged_again(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    handler = Recorder()
    client.on("channel_message")(handler)
    transport = factory.last
    transport.feed(channel_message("a", 1, event_id="dup", offset=1))
    await wait_until(lambda: acked_ids(factory) == ["dup"])
    transport.feed(channel_message("a", 1, event_id="dup", offset=1, _redelivered=True))
    transport.feed(channel_message("a", 2, event_id="next", offset=2))
    await wait_until(lambda: "next" in acked_ids(factory))
    assert [m.data for m in handler.calls] == [1, 2]
    assert acked_ids(factory).count("dup") == 2


async def test_acks_are_batched_while_handlers_are_busy(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    @client.on("channel_message")
    async def slow(message: ChannelMessage) -> None:
        if message.event_id == "e1":
            started.set()
            await release.wait()

    transport = factory.last
    transport.feed(channel_message("a", 1, event_id="e1"))
    await asyncio.wait_for(started.wait(), WAIT)
    for n in (2, 3, 4):
        transport.feed(channel_message("a", n, event_id=f"e{n}"))
    await client.list_channels()  # the frames above have been read
    assert transport.sent_of("message_ack") == []  # nothing is acknowledged before handling
    release.set()
    await wait_until(lambda: transport.sent_of("message_ack") != [])
    assert transport.sent_of("message_ack") == [
        {"type": "message_ack", "event_ids": ["e1", "e2", "e3", "e4"], "reply": False}
    ]


async def test_messages_without_event_id_are_not_acknowledged(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    handler = Recorder()
    client.on("channel_message")(handler)
    factory.last.feed({"type": "channel_message", "channel": "a", "data": 1})
    factory.last.feed({"type": "channel_message", "channel": "a", "data": 1})
    await handler.wait(2)  # no id: cannot be de-duplicated either
    factory.last.feed(channel_message("a", 2, event_id="e2"))
    await wait_until(lambda: acked_ids(factory) != [])
    assert [m.data for m in await handler.wait(3)] == [1, 1, 2]
    assert acked_ids(factory) == ["e2"]  # the first two had nothing to acknowledge


async def test_a_raising_handler_is_logged_and_the_next_message_still_arrives(
    client: AsyncPushClient, factory: MemoryTransportFactory, caplog: pytest.LogCaptureFixture
) -> None:
    survivor = Recorder()

    @client.on("channel_message")
    def broken(message: ChannelMessage) -> None:
        if message.data == 1:
            raise RuntimeError(f"boom {message.data}")

    @client.on("channel_message")
    async def broken_async(message: ChannelMessage) -> None:
        if message.data == 1:
            raise RuntimeError("async boom")

    client.on("channel_message")(survivor)
    with caplog.at_level(logging.ERROR, "praison_push.client"):
        factory.last.feed(channel_message("a", 1, event_id="e1"))
        factory.last.feed(channel_message("a", 2, event_id="e2"))
        await survivor.wait(2)
    assert "boom 1" in caplog.text
    assert "async boom" in caplog.text
    assert "broken" in caplog.text
    # Only what was handled without an exception is acknowledged.
    await wait_until(lambda: acked_ids(factory) == ["e2"])


async def test_a_message_whose_handler_raised_is_handled_again_when_redelivered(
    client: AsyncPushClient, factory: MemoryTransportFactory, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    @client.on("channel_message")
    def flaky(message: ChannelMessage) -> None:
        attempts.append(message.retry_count)
        if len(attempts) == 1:
            raise RuntimeError("not yet")

    with caplog.at_level(logging.ERROR, "praison_push.client"):
        factory.last.feed(channel_message("a", 1, event_id="e1", offset=1))
        await wait_until(lambda: attempts == [0])
        factory.last.feed(
            channel_message("a", 1, event_id="e1", offset=1, _redelivered=True, _retry_count=1)
        )
        await wait_until(lambda: acked_ids(factory) == ["e1"])
    assert attempts == [0, 1]  # the redelivery was not dropped as a duplicate
    factory.last.feed(
        channel_message("a", 1, event_id="e1", offset=1, _redelivered=True, _retry_count=2)
    )
    await wait_until(lambda: acked_ids(factory) == ["e1", "e1"])  # handled: now a duplicate
    assert attempts == [0, 1]


async def test_a_slow_handler_does_not_block_replies(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(_message: ChannelMessage) -> None:
        started.set()
        await release.wait()

    await client.subscribe("a", slow)
    factory.last.feed(channel_message("a", 1, event_id="e1"))
    await asyncio.wait_for(started.wait(), WAIT)
    receipt = await asyncio.wait_for(client.publish("b", "still flowing"), WAIT)
    assert receipt.channel == "b"
    assert await client.list_channels() == ["b"]
    release.set()


async def test_ping_is_answered_with_pong(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    factory.last.feed({"type": "ping"})
    assert await factory.last.next_sent("pong", timeout=WAIT) == {"type": "pong"}
    factory.last.feed({"type": "ping", "id": 7})
    assert await factory.last.next_sent("pong", timeout=WAIT) == {"type": "pong", "id": 7}


async def test_malformed_frames_are_skipped_and_the_connection_stays(
    client: AsyncPushClient, factory: MemoryTransportFactory, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Recorder()
    client.on("channel_message")(handler)
    with caplog.at_level(logging.WARNING, "praison_push.client"):
        factory.last.feed("{not json")
        factory.last.feed("[1, 2]")
        factory.last.feed(channel_message("a", "ok", event_id="e1"))
        await handler.wait()
    assert client.is_connected
    assert caplog.text.count("malformed frame") == 2


async def test_other_frame_types_reach_their_handlers_raw(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    joined, subscribed = Recorder(), Recorder()
    client.on("presence_join")(joined)
    client.on("channel.subscribed")(subscribed)
    frame = {
        "type": "presence_join",
        "channel": "room",
        "data": {"client_id": "other", "status": "online", "metadata": {}},
        "event_id": "p1",
        "timestamp": 1.0,
    }
    factory.last.feed(frame)
    assert await joined.wait() == [frame]
    await client.subscribe("room")
    assert (await subscribed.wait())[0]["channel"] == "room"


async def test_unsolicited_error_is_logged_and_dispatched(
    client: AsyncPushClient, factory: MemoryTransportFactory, caplog: pytest.LogCaptureFixture
) -> None:
    errors = Recorder()
    client.on("error")(errors)
    with caplog.at_level(logging.WARNING, "praison_push.client"):
        factory.last.feed({"type": "error", "code": "internal", "message": "oops"})
        (frame,) = await errors.wait()
    assert frame["code"] == "internal"
    assert "internal: oops" in caplog.text


async def test_frames_without_a_type_and_handling_bugs_do_not_stop_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Odd(MemoryTransport):
        """A custom transport with a bug: it hands over a list instead of a frame."""

        async def receive(self) -> dict[str, Any]:
            frame = await super().receive()
            return ["not", "a", "frame"] if frame.get("type") == "odd" else frame  # type: ignore[return-value]

    transports: list[Odd] = []

    def factory(url: str, auth_token: str | None, *, client_id: str) -> Odd:
        transports.append(Odd(greeting=greeting(client_id), responder=ScriptedGateway()))
        return transports[-1]

    client = AsyncPushClient("ws://x/ws", transport_factory=factory, request_timeout=WAIT)
    await client.connect()
    try:
        transports[0].feed({"no": "type"})
        transports[0].feed({"type": "odd"})
        with caplog.at_level(logging.ERROR, "praison_push.client"):
            assert await client.list_channels() == []  # answered after both were read
        assert "could not handle a 'list' frame" in caplog.text
        assert client.is_connected and len(transports) == 1
    finally:
        await client.disconnect()


async def test_subscribed_reply_sets_the_resume_position(
    client: AsyncPushClient, factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    scripted.offsets["a"] = 41
    await client.subscribe("a")
    factory.last.feed(channel_message("a", 1, event_id="e42", offset=42))
    factory.last.feed(channel_message("a", 1, event_id="e40", offset=40))  # late, out of order
    await wait_until(lambda: acked_ids(factory) == ["e42", "e40"])
    factory.last.close(1012, "restart")
    renewed = await (await factory.wait_for_transport(1)).next_sent("channel.subscribe")
    assert renewed["since"] == {"offset": 42, "epoch": "memory-1"}
