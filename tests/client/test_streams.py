"""``client.messages(channel)``: async iteration, bounded buffer, ending."""

from __future__ import annotations

import asyncio
import logging

import pytest
from support import SHORT, WAIT, wait_until

from praison_push.client import AsyncPushClient, ChannelMessage, MessageStream
from praison_push.testing import MemoryTransportFactory, channel_message


async def test_messages_subscribes_and_yields_in_order(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    stream = client.messages("feed")
    assert "feed" in repr(stream)

    async def take(n: int) -> list[ChannelMessage]:
        taken = []
        async for message in stream:
            taken.append(message)
            if len(taken) == n:
                break
        return taken

    task = asyncio.ensure_future(take(3))
    await factory.last.next_sent("channel.subscribe")
    for n in range(3):
        factory.last.feed(channel_message("feed", n, event_id=f"e{n}"))
    assert [m.data for m in await asyncio.wait_for(task, WAIT)] == [0, 1, 2]
    assert "feed" in client.subscriptions
    await stream.aclose()
    await stream.aclose()  # idempotent


async def test_messages_buffer_drops_the_oldest_when_full(
    client: AsyncPushClient, factory: MemoryTransportFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with client.messages("feed", maxsize=2) as stream:
        with caplog.at_level(logging.WARNING, "praison_push.client"):
            for n in range(5):
                factory.last.feed(channel_message("feed", n, event_id=f"e{n}"))
            await wait_until(lambda: stream.dropped == 3)
        assert [(await stream.get()).data for _ in range(2)] == [3, 4]
        assert "2 messages behind" in caplog.text


async def test_get_times_out_without_losing_a_message(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    async with client.messages("feed") as stream:
        with pytest.raises(asyncio.TimeoutError):
            await stream.get(timeout=SHORT / 4)
        factory.last.feed(channel_message("feed", "late", event_id="e1"))
        assert (await stream.get(timeout=WAIT)).data == "late"


async def test_stream_ends_on_unsubscribe_after_draining(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    stream = client.messages("feed")
    await stream.start()
    factory.last.feed(channel_message("feed", 1, event_id="e1"))
    await wait_until(lambda: "1 buffered" in repr(stream))
    await client.unsubscribe("feed")
    assert [m.data async for m in stream] == [1]
    assert "ended" in repr(stream)
    stream.push(ChannelMessage(channel="feed"))  # ignored once ended
    with pytest.raises(StopAsyncIteration):
        await stream.get()


async def test_stream_ends_when_the_client_closes(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    stream = client.messages("feed")
    collected = asyncio.ensure_future(_collect(stream))
    await factory.last.next_sent("channel.subscribe")
    factory.last.close(1000)
    assert await asyncio.wait_for(collected, WAIT) == []


async def test_closing_a_stream_keeps_the_subscription(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    async with client.messages("feed"):
        pass
    assert "feed" in client.subscriptions
    assert factory.last.sent_of("channel.unsubscribe") == []


async def test_messages_rejects_bad_arguments(client: AsyncPushClient) -> None:
    with pytest.raises(ValueError, match="channel"):
        client.messages("bad channel")
    with pytest.raises(ValueError, match="maxsize"):
        client.messages("feed", maxsize=0)


async def _collect(stream: MessageStream) -> list[ChannelMessage]:
    return [m async for m in stream]
